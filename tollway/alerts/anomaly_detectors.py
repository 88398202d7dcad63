"""Anomaly detectors: traffic, error rate and spend against each subject's own learned baseline,
folding in each completed interval exactly once (re-running at the same `now` changes nothing)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple
from uuid import UUID

from tollway.alerts.baseline import Ewma
from tollway.alerts.lifecycle import Condition
from tollway.auth.principal import WORKER
from tollway.costs.service import CostDimension, CostService, midnight
from tollway.metering.analytics import AnalyticsService, UsageQuery
from tollway.metering.buckets import floor
from tollway.metering.dimensions import Dimension
from tollway.models import (
    DetectorBaseline,
    Severity,
)
from tollway.sql import Granularity, as_uuid

ANOMALY_INTERVAL = timedelta(minutes=5)
ANOMALY_Z = 4.0
ANOMALY_MIN_REQUESTS = 20
ERROR_RATE_MIN_JUMP = 10.0
"""An error-rate anomaly must also be this many percentage points above the baseline."""
SLOT_WARM = 24
"""Observations of one hour-of-day slot (2 days of 5-minute intervals) before it is used."""
ALL_DAY_WARM = 12
"""Observations (an hour) before any anomaly is judged: cold start says nothing."""
COST_WARM_DAYS = 7


class AnomalyDetectors:
    """Conditions found against learned baselines (`DetectorBaseline`)."""

    def __init__(self, analytics: AnalyticsService, costs: CostService) -> None:
        self.analytics = analytics
        self.costs = costs

    async def traffic_anomalies(self, now: datetime) -> list[Condition]:
        """Per key: requests and error rate of the last complete 5-minute interval against
        the key's own baseline for that hour of the day."""
        current = floor(Granularity.MINUTE, now)
        current -= timedelta(minutes=current.minute % 5)
        last = current - ANOMALY_INTERVAL
        counts = await self._per_key(last, current)
        requests = await _Baselines.load("anomaly.requests")
        errors = await _Baselines.load("anomaly.errors")
        found = []
        for key in set(counts) | requests.subjects():
            traffic = counts.get(key, _KeyTraffic(None, 0, 0))
            found += _traffic_conditions(key, traffic, requests.judge(key, last))
            if traffic.requests:
                found += _error_conditions(key, traffic, errors.judge(key, last))
        # The interval before `last` is complete and judged: fold it in (once), so that
        # `last` stays judged against the same baseline on every evaluation until it passes.
        previous = last - ANOMALY_INTERVAL
        if not requests.learned(previous):  # else learned by an earlier evaluation
            await self._learn_traffic(requests, errors, previous, last)
        return found

    async def _learn_traffic(
        self, requests: _Baselines, errors: _Baselines, start: datetime, end: datetime
    ) -> None:
        earlier = await self._per_key(start, end)
        silent = (requests.subjects() | errors.subjects()) - set(earlier)
        await requests.learn(
            {k: float(t.requests) for k, t in earlier.items()} | dict.fromkeys(silent, 0.0), start
        )
        await errors.learn({k: t.error_rate for k, t in earlier.items() if t.requests}, start)

    async def _per_key(self, start: datetime, end: datetime) -> dict[str, _KeyTraffic]:
        rows = await self.analytics.buckets(
            WORKER,
            UsageQuery(start, end),
            group_by=[Dimension.TENANT, Dimension.API_KEY],
            series=None,
            latency=False,
        )
        result: dict[str, _KeyTraffic] = {}
        for row in rows:
            key = row.group.get(Dimension.API_KEY)
            if key is None:
                continue
            m = row.measures
            tenant = as_uuid(row.group.get(Dimension.TENANT))
            seen = result.get(str(key), _KeyTraffic(tenant, 0, 0))
            result[str(key)] = _KeyTraffic(
                tenant, seen.requests + m.requests, seen.failed + m.errors - m.rejected
            )
        return result

    async def cost_anomalies(self, now: datetime) -> list[Condition]:
        """Per service: yesterday's spend against the service's learned daily spend."""
        today = midnight(now.date())
        yesterday = today - timedelta(days=1)
        spend = await self._spend(yesterday)
        baselines = await _Baselines.load("anomaly.cost", daily=True)
        found = []
        for subject, (tenant, amount, currency) in spend.items():
            usual = baselines.judge(subject, yesterday, warm=COST_WARM_DAYS)
            if usual is None or amount <= 1.5 * usual.mean or usual.z(amount) < ANOMALY_Z:
                continue
            found.append(
                Condition(
                    source="anomaly.cost",
                    kind="COST_ANOMALY",
                    subject=subject,
                    severity=Severity.WARNING,
                    message=f"{subject.split('/')[-1]} cost {amount:.2f} {currency} on "
                    f"{yesterday:%Y-%m-%d}, usually {usual.mean:.2f}",
                    tenant_id=tenant,
                    value=amount,
                    threshold=usual.mean,
                    cooldown_seconds=86_400,
                )
            )
        before = yesterday - timedelta(days=1)
        if not baselines.learned(before):
            earlier = await self._spend(before)
            await baselines.learn({s: v[1] for s, v in earlier.items()}, before)
        return found

    async def _spend(self, day: datetime) -> dict[str, tuple[UUID | None, float, str]]:
        lines = await self.costs.costs(
            WORKER,
            day,
            end=day + timedelta(days=1),
            group_by=[CostDimension.SERVICE, CostDimension.TENANT],
        )
        spend: dict[str, tuple[UUID | None, float, str]] = {}
        for line in lines:
            tenant = as_uuid(line.group[CostDimension.TENANT])
            subject = f"tenant:{tenant}/service:{line.group[CostDimension.SERVICE]}"
            spend[subject] = (tenant, float(line.amount), line.currency)
        return spend


class _KeyTraffic(NamedTuple):
    """One key's traffic over an interval: requests, and those that failed (not refused)."""

    tenant: UUID | None
    requests: int
    failed: int

    @property
    def error_rate(self) -> float:
        return 100.0 * self.failed / self.requests if self.requests else 0.0


def _traffic_conditions(key: str, traffic: _KeyTraffic, usual: Ewma | None) -> list[Condition]:
    """A spike or drop of a key's requests against its baseline, once the key is busy enough."""
    n = traffic.requests
    if usual is None or (n < ANOMALY_MIN_REQUESTS and usual.mean < ANOMALY_MIN_REQUESTS):
        return []
    z = usual.z(float(n))
    if abs(z) < ANOMALY_Z:
        return []
    direction = "spike" if z > 0 else "drop"
    return [
        Condition(
            source="anomaly.traffic",
            kind="TRAFFIC_ANOMALY",
            subject=f"key:{key}",
            severity=Severity.WARNING,
            message=f"traffic {direction} on key {key}: {n} requests in 5 minutes, "
            f"usually {usual.mean:.0f} (z = {z:+.1f})",
            tenant_id=traffic.tenant,
            key_id=UUID(key),
            value=float(n),
            threshold=usual.mean,
        )
    ]


def _error_conditions(key: str, traffic: _KeyTraffic, usual: Ewma | None) -> list[Condition]:
    """A jump of a key's error rate, both unusual (z) and large (percentage points)."""
    rate = traffic.error_rate
    if (
        usual is None
        or traffic.requests < ANOMALY_MIN_REQUESTS
        or usual.z(rate) < ANOMALY_Z
        or rate - usual.mean < ERROR_RATE_MIN_JUMP
    ):
        return []
    return [
        Condition(
            source="anomaly.traffic",
            kind="ERROR_RATE_ANOMALY",
            subject=f"key:{key}/errors",
            severity=Severity.WARNING,
            message=f"error rate of key {key} is {rate:.1f}% over 5 minutes, "
            f"usually {usual.mean:.1f}%",
            tenant_id=traffic.tenant,
            key_id=UUID(key),
            value=rate,
            threshold=usual.mean,
        )
    ]


class _Baselines:
    """The baselines of one detector, loaded at once; each interval is folded in once."""

    def __init__(self, detector: str, rows: list[DetectorBaseline], daily: bool) -> None:
        self.detector = detector
        self.daily = daily
        self.rows = {(r.subject, r.slot): r for r in rows}

    @classmethod
    async def load(cls, detector: str, daily: bool = False) -> _Baselines:
        return cls(detector, await DetectorBaseline.filter(detector=detector), daily)

    def subjects(self) -> set[str]:
        return {subject for subject, _ in self.rows}

    def learned(self, start: datetime) -> bool:
        """True once the interval at `start` is the latest folded in: an evaluation folds in
        every subject of an interval at once, so the newest row tells. (Rows are still
        guarded one by one, so a wrong answer costs a query, never a double count.)"""
        return max((row.updated_at for row in self.rows.values()), default=None) == start

    def _slot(self, start: datetime) -> int:
        return -1 if self.daily else start.hour

    def judge(self, subject: str, start: datetime, warm: int = ALL_DAY_WARM) -> Ewma | None:
        """The baseline to judge the interval at `start` against, once warm (the hour's own
        slot when it has seen two days, else the all-day one), or None during cold start."""
        for slot, needed in ((self._slot(start), SLOT_WARM), (-1, warm)):
            row = self.rows.get((subject, slot))
            if row is not None and row.observations >= needed and row.updated_at < start:
                return Ewma(row.mean, row.variance, row.observations)
        return None

    async def learn(self, values: dict[str, float], start: datetime) -> None:
        """Fold `values` (the interval at `start`) into each subject's slot and all-day
        baselines, unless already folded (rows remember the last interval they took)."""
        for subject, value in values.items():
            for slot in {self._slot(start), -1}:
                row = self.rows.get((subject, slot))
                if row is not None and row.updated_at >= start:
                    continue
                ewma = Ewma(row.mean, row.variance, row.observations) if row else Ewma()
                ewma.add(value)
                if row is None:
                    row = await DetectorBaseline.create(
                        detector=self.detector, subject=subject, slot=slot, mean=ewma.mean,
                        variance=ewma.variance, observations=ewma.observations,
                        updated_at=start,
                    )  # fmt: skip
                    self.rows[(subject, slot)] = row
                else:
                    row.mean, row.variance = ewma.mean, ewma.variance
                    row.observations, row.updated_at = ewma.observations, start
                    await row.save(update_fields=["mean", "variance", "observations", "updated_at"])
