"""The alert evaluation job: rules and detectors, once per tick across every instance.

Each run claims its tick (`job_claims`, unique on job and tick): the instance whose insert
wins evaluates, the others skip, so several workers never evaluate the same tick twice.

An evaluation that finds the engine settled (every rule `settles`, no condition from a
detector that is not slow) lets the ticks after it pass without the database, checking only
Redis and the broadcaster, until usage, security events or configuration change
(`tollway.signals`) or the next five-minute boundary comes, when the slow detectors are due.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from tortoise.exceptions import IntegrityError

from tollway.alerts.detectors import Detector
from tollway.alerts.evaluation import RuleEvaluator
from tollway.alerts.lifecycle import OPEN_STATUSES, AlertStore, Condition
from tollway.models import Alert, AlertRule, JobClaim
from tollway.signals import Counts, Signals, Topic

logger = logging.getLogger(__name__)

JOB = "alerts"
KEEP_CLAIMS = 1000
INPUTS = (Topic.USAGE, Topic.SECURITY, Topic.CONFIG)
SLOW_EVERY = timedelta(minutes=5)
"""A settled engine still evaluates fully once after every such boundary (the anomaly
detector's interval)."""
SLOW_DELAY = timedelta(seconds=2)
Clock = Callable[[], datetime]
HealthProbe = Callable[[], Awaitable[bool]]


class Evaluation(NamedTuple):
    """The alerts an evaluation changed, and whether the engine is settled after it."""

    changes: list[tuple[str, Alert]]
    settled: bool


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def claim(job: str, tick: int, holder: str, now: datetime) -> bool:
    """True for the one caller that claims `job` at `tick` first."""
    try:
        await JobClaim.create(job=job, tick=tick, holder=holder, claimed_at=now)
    except IntegrityError:
        return False
    if tick % 100 == 0:
        await JobClaim.filter(job=job, tick__lt=tick - KEEP_CLAIMS).delete()
    return True


class AlertEngine:
    """Evaluates every rule and detector and hands the result to the lifecycle."""

    def __init__(
        self,
        rules: RuleEvaluator,
        detectors: list[Detector],
        store: AlertStore,
        interval_seconds: float,
        holder: str,
        clock: Clock = _utcnow,
        signals: Signals | None = None,
        healthy: HealthProbe | None = None,
    ) -> None:
        """Without `signals` every tick is a full evaluation. `healthy` is the check of a
        settled engine's ticks."""
        self.rules = rules
        self.detectors = detectors
        self.store = store
        self.interval_seconds = interval_seconds
        self.holder = holder
        self.clock = clock
        self.signals = signals
        self.healthy = healthy
        self._settled: Counts | None = None
        self._next_full: datetime | None = None

    async def run(self, now: datetime | None = None) -> int:
        """Evaluate the current tick unless another instance has, or nothing can have
        changed since a settled evaluation; returns the changes."""
        moment = now or self.clock()
        if await self._quiet(moment):
            return 0
        tick = int(moment.timestamp() // self.interval_seconds)
        if not await claim(JOB, tick, self.holder, moment):
            return 0
        seen = self.signals.counts(INPUTS) if self.signals is not None else None
        changes, settled = await self.evaluate(moment)
        self._settled = seen if settled else None
        boundary = datetime.fromtimestamp(
            moment.timestamp() // SLOW_EVERY.total_seconds() * SLOW_EVERY.total_seconds(), UTC
        )
        self._next_full = boundary + SLOW_EVERY + SLOW_DELAY
        return len(changes)

    async def _quiet(self, now: datetime) -> bool:
        settled, next_full = self._settled, self._next_full
        if self.signals is None or settled is None or next_full is None or now >= next_full:
            return False
        if self.signals.moved(settled):
            return False
        return self.healthy is None or await self.healthy()

    async def evaluate(self, now: datetime) -> Evaluation:
        """One evaluation, unclaimed (the job claims first; tests may call this directly).
        A source that fails is left out entirely, so its open alerts are not resolved by an
        error, and the engine is not settled."""
        conditions: list[Condition] = []
        sources: set[str] = set()
        settled = True
        rules = await AlertRule.all()
        try:
            found, rules_settled = await self.rules.evaluate(rules, now)
            conditions += found
            settled = rules_settled
            sources |= {f"rule:{r.id}" for r in rules}
            # alerts of deleted rules resolve too
            open_sources = await Alert.filter(
                status__in=OPEN_STATUSES, source__startswith="rule:"
            ).values_list("source", flat=True)
            sources |= {str(s) for s in open_sources}
        except Exception:
            logger.exception("alert rules could not be evaluated")
            settled = False
        for detector in self.detectors:
            try:
                found = await detector.run(now)
            except Exception:
                logger.exception("detector %s failed", detector.name)
                settled = False
                continue
            conditions += found
            settled = settled and (detector.slow or not found)
            sources.add(detector.name)
        return Evaluation(await self.store.apply(conditions, sources, now), settled)
