"""The alert evaluation job: rules and detectors, once per tick across every instance.

Each run claims its tick (`job_claims`, unique on job and tick): the instance whose insert
wins evaluates, the others skip, so several workers never evaluate the same tick twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError

from tollway.alerts.detectors import Detector
from tollway.alerts.evaluation import RuleEvaluator
from tollway.alerts.lifecycle import OPEN_STATUSES, AlertStore, Condition
from tollway.models import Alert, AlertRule, JobClaim

logger = logging.getLogger(__name__)

JOB = "alerts"
KEEP_CLAIMS = 1000
Clock = Callable[[], datetime]


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
    ) -> None:
        self.rules = rules
        self.detectors = detectors
        self.store = store
        self.interval_seconds = interval_seconds
        self.holder = holder
        self.clock = clock

    async def run(self, now: datetime | None = None) -> int:
        """Evaluate the current tick unless another instance has; returns the changes."""
        moment = now or self.clock()
        tick = int(moment.timestamp() // self.interval_seconds)
        if not await claim(JOB, tick, self.holder, moment):
            return 0
        return len(await self.evaluate(moment))

    async def evaluate(self, now: datetime) -> list[tuple[str, Alert]]:
        """One evaluation, unclaimed (the job claims first; tests may call this directly).
        A source that fails is left out entirely, so its open alerts are not resolved by an
        error."""
        conditions: list[Condition] = []
        sources: set[str] = set()
        rules = await AlertRule.all()
        try:
            conditions += await self.rules.evaluate(rules, now)
            sources |= {f"rule:{r.id}" for r in rules}
            # alerts of deleted rules resolve too
            open_sources = await Alert.filter(
                status__in=OPEN_STATUSES, source__startswith="rule:"
            ).values_list("source", flat=True)
            sources |= {str(s) for s in open_sources}
        except Exception:
            logger.exception("alert rules could not be evaluated")
        for detector in self.detectors:
            try:
                conditions += await detector.run(now)
            except Exception:
                logger.exception("detector %s failed", detector.name)
                continue
            sources.add(detector.name)
        return await self.store.apply(conditions, sources, now)
