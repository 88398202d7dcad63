"""The alert evaluation job: rules and detectors, once per tick across every instance.

Each run claims its tick (`job_claims`, unique on job and tick): the instance whose insert
wins evaluates, the others skip, so several workers never evaluate the same tick twice.

An evaluation that finds the engine settled (every rule `settles`, no condition from a
detector that is not slow) lets the ticks after it pass without the database, checking only
Redis and the broadcaster, until usage, security events or configuration change
(`tollway.signals`). After each five-minute boundary one tick evaluates what can change with
time alone: the slow detectors and the rules on periods.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import NamedTuple

from tortoise.exceptions import IntegrityError

from tollway.alerts.detectors import Detector
from tollway.alerts.evaluation import PERIODIC, RuleEvaluator
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


class Scope(Enum):
    """How much a tick evaluates."""

    NONE = "none"
    SLOW = "slow"
    FULL = "full"


class Evaluation(NamedTuple):
    """The alerts an evaluation changed, and whether the engine is settled after it."""

    changes: list[tuple[str, Alert]]
    settled: bool


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def claim(job: str, tick: int, *, holder: str, now: datetime) -> bool:
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
        *,
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
        scope = await self._scope(moment)
        if scope is Scope.NONE:
            return 0
        tick = int(moment.timestamp() // self.interval_seconds)
        if not await claim(JOB, tick, holder=self.holder, now=moment):
            return 0
        seen = self.signals.counts(INPUTS) if self.signals is not None else None
        changes, settled = await self.evaluate(moment, slow_only=scope is Scope.SLOW)
        self._settled = seen if settled else None
        boundary = datetime.fromtimestamp(
            moment.timestamp() // SLOW_EVERY.total_seconds() * SLOW_EVERY.total_seconds(), UTC
        )
        self._next_full = boundary + SLOW_EVERY + SLOW_DELAY
        return len(changes)

    async def _scope(self, now: datetime) -> Scope:
        settled, next_full = self._settled, self._next_full
        if self.signals is None or settled is None or next_full is None:
            return Scope.FULL
        if self.signals.moved(settled):
            return Scope.FULL
        if self.healthy is not None and not await self.healthy():
            return Scope.FULL
        return Scope.SLOW if now >= next_full else Scope.NONE

    async def evaluate(self, now: datetime, slow_only: bool = False) -> Evaluation:
        """One evaluation, unclaimed (the job claims first; tests may call this directly).
        A source that fails is left out entirely, so its open alerts are not resolved by an
        error, and the engine is not settled. `slow_only`: what can change with time alone
        once settled (slow detectors, rules on periods)."""
        conditions: list[Condition] = []
        sources: set[str] = set()
        settled = True
        rules = await AlertRule.all()
        if slow_only:
            rules = [r for r in rules if r.metric in PERIODIC]
        try:
            found, rules_settled = await self.rules.evaluate(rules, now)
            conditions += found
            settled = rules_settled
            sources |= {f"rule:{r.id}" for r in rules}
            if not slow_only:  # alerts of deleted rules resolve too
                open_sources = await Alert.filter(
                    status__in=OPEN_STATUSES, source__startswith="rule:"
                ).values_list("source", flat=True)
                sources |= {str(s) for s in open_sources}
        except Exception:
            logger.exception("alert rules could not be evaluated")
            settled = False
        for detector in self.detectors:
            if slow_only and not detector.slow:
                continue
            try:
                found = await detector.run(now)
            except Exception:
                logger.exception("detector %s failed", detector.name)
                settled = False
                continue
            conditions += found
            settled = settled and (detector.slow or not found)
            sources.add(detector.name)
        return Evaluation(await self.store.apply(conditions, sources, now=now), settled)
