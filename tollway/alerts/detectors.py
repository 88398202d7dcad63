"""Detectors: conditions found in the data without a user-written threshold.

Each detector returns the conditions that hold at `now`; the lifecycle opens, counts and
resolves their alerts. Anomaly detectors learn per-subject baselines (`DetectorBaseline`),
folding in each completed interval exactly once, so re-running at the same `now` changes
nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from tortoise.functions import Count

from tollway.alerts.baseline import Ewma
from tollway.alerts.lifecycle import Condition
from tollway.audit.service import AuditService
from tollway.auth.principal import WORKER, Principal, Role
from tollway.costs.budgets import BudgetService
from tollway.costs.service import CostDimension, CostService, midnight
from tollway.health.checks import HealthChecker, HealthStatus
from tollway.keys.service import KeyService
from tollway.metering.analytics import AnalyticsService, UsageQuery
from tollway.metering.buckets import floor
from tollway.metering.dimensions import Dimension
from tollway.metering.quota_use import quota_use
from tollway.models import (
    ApiKey,
    Budget,
    DetectorBaseline,
    KeyStatus,
    SecurityEvent,
    Severity,
    Tenant,
    UsageEvent,
)
from tollway.privacy import network_of
from tollway.sql import Granularity, as_uuid

logger = logging.getLogger(__name__)

SECURITY = Principal(subject="tollway-security", role=Role.SUPER_ADMIN)
SECURITY_WINDOW = timedelta(minutes=5)
BRUTE_FORCE_ATTEMPTS = 20
"""Guesses from one address within SECURITY_WINDOW that count as brute force."""
GUESSES = ("API_KEY_INVALID", "ADMIN_AUTH_FAILED")
"""Security events that are a guessed credential."""
NETWORK_WINDOW = timedelta(minutes=10)
NETWORK_HISTORY = timedelta(hours=24)
NEW_NETWORKS = 10
"""Networks (/24, /48) a key is used from within NETWORK_WINDOW that it did not use the
day before: more looks like a leaked key."""
EXPIRY_NOTICE = timedelta(days=7)
QUOTA_WARNING, QUOTA_CRITICAL = 80.0, 100.0
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


@dataclass(frozen=True, slots=True)
class Detector:
    """A named detector."""

    name: str
    run: Callable[[datetime], Awaitable[list[Condition]]]
    slow: bool = False
    """What it finds changes only with new data or on a scale of minutes to days (an
    interval's end, a key's expiry), so while nothing new is stored the engine need not
    run it every tick."""


class Detectors:
    """Every built-in detector, sharing the services they read."""

    def __init__(
        self,
        analytics: AnalyticsService,
        costs: CostService,
        budgets: BudgetService,
        keys: KeyService,
        audit: AuditService,
        health: HealthChecker,
    ) -> None:
        self.analytics = analytics
        self.costs = costs
        self.budgets = budgets
        self.keys = keys
        self.audit = audit
        self.health = health

    def all(self) -> list[Detector]:
        """Detectors in evaluation order."""
        return [
            Detector("security.brute_force", self.brute_force),
            Detector("security.revoked_key_use", self.revoked_key_use),
            Detector("security.many_networks", self.many_networks),
            Detector("keys.expiring", self.expiring_keys, slow=True),
            Detector("keys.rotation_due", self.rotation_due, slow=True),
            Detector("quota", self.quota, slow=True),
            Detector("budgets", self.budget_thresholds, slow=True),
            Detector("infrastructure", self.infrastructure),
            Detector("anomaly.traffic", self.traffic_anomalies, slow=True),
            Detector("anomaly.cost", self.cost_anomalies, slow=True),
        ]

    async def brute_force(self, now: datetime) -> list[Condition]:
        """Many invalid API keys or failed admin logins from one address."""
        rows = await (
            SecurityEvent.filter(
                at__gte=now - SECURITY_WINDOW, at__lt=now, reason__in=GUESSES,
                client_ip__isnull=False,
            )
            .annotate(attempts=Count("id"))
            .group_by("client_ip")
            .values("client_ip", "attempts")
        )  # fmt: skip
        return [
            Condition(
                source="security.brute_force",
                kind="CREDENTIAL_BRUTE_FORCE",
                subject=f"ip:{r['client_ip']}",
                severity=Severity.CRITICAL,
                message=f"{r['attempts']} invalid API keys or admin tokens from "
                f"{r['client_ip']} in "
                f"{int(SECURITY_WINDOW.total_seconds() // 60)} minutes",
                tenant_id=None,
                value=float(r["attempts"]),
                threshold=BRUTE_FORCE_ATTEMPTS,
            )
            for r in rows
            if r["attempts"] >= BRUTE_FORCE_ATTEMPTS
        ]

    async def revoked_key_use(self, now: datetime) -> list[Condition]:
        """Someone still presents a revoked key."""
        rows = await (
            SecurityEvent.filter(
                at__gte=now - SECURITY_WINDOW, at__lt=now, reason="API_KEY_REVOKED",
                key_id__isnull=False,
            )
            .annotate(attempts=Count("id"))
            .group_by("key_id", "tenant_id", "key_prefix")
            .values("key_id", "tenant_id", "key_prefix", "attempts")
        )  # fmt: skip
        return [
            Condition(
                source="security.revoked_key_use",
                kind="REVOKED_KEY_USED",
                subject=f"key:{r['key_id']}",
                severity=Severity.WARNING,
                message=f"revoked key {r['key_prefix']}… presented {r['attempts']} times",
                tenant_id=as_uuid(r["tenant_id"]),
                key_id=as_uuid(r["key_id"]),
                value=float(r["attempts"]),
            )
            for r in rows
        ]

    async def many_networks(self, now: datetime) -> list[Condition]:
        """A key suddenly used from many networks it did not use the day before. When the
        key's tenant asks for it, the key is disabled, and the audit log says why."""
        recent = await (
            UsageEvent.filter(at__gte=now - NETWORK_WINDOW, at__lt=now, key_id__isnull=False)
            .distinct()
            .values_list("key_id", "client_ip")
        )
        networks: dict[UUID, set[str]] = defaultdict(set)
        for key_id, address in recent:
            network = network_of(address)
            if network is not None:
                networks[key_id].add(network)
        suspects = {k: n for k, n in networks.items() if len(n) >= NEW_NETWORKS}
        found = []
        for key_id, seen in suspects.items():
            before = await (
                UsageEvent.filter(
                    key_id=key_id, at__gte=now - NETWORK_WINDOW - NETWORK_HISTORY,
                    at__lt=now - NETWORK_WINDOW,
                )
                .distinct()
                .values_list("client_ip", flat=True)
            )  # fmt: skip
            new = seen - {network_of(str(a)) for a in before}
            if len(new) < NEW_NETWORKS:
                continue
            key = await ApiKey.get_or_none(id=key_id)
            if key is None:
                continue
            disabled = await self._maybe_disable(key, len(new))
            found.append(
                Condition(
                    source="security.many_networks",
                    kind="KEY_USED_FROM_MANY_NETWORKS",
                    subject=f"key:{key_id}",
                    severity=Severity.CRITICAL,
                    message=f"key {key.masked_key} used from {len(new)} new networks in "
                    f"{int(NETWORK_WINDOW.total_seconds() // 60)} minutes"
                    + (" (disabled by the tenant's security policy)" if disabled else ""),
                    tenant_id=key.tenant_id,
                    key_id=key.id,
                    value=float(len(new)),
                    threshold=NEW_NETWORKS,
                )
            )
        return found

    async def _maybe_disable(self, key: ApiKey, networks: int) -> bool:
        if key.status is not KeyStatus.ACTIVE:
            return False
        tenant = await Tenant.get_or_none(id=key.tenant_id)
        if tenant is None or not tenant.auto_disable_compromised_keys:
            return False
        await self.keys.update(SECURITY, key.id, {"status": KeyStatus.DISABLED})
        entry = await self.audit.record(
            SECURITY, "api_key.auto_disabled", "api_key", key.id, key.tenant_id,
            {"reason": f"used from {networks} new networks within "
                       f"{int(NETWORK_WINDOW.total_seconds() // 60)} minutes",
             "policy": "auto_disable_compromised_keys"},
        )  # fmt: skip
        self.audit.announce(entry)
        logger.warning("disabled key %s: judged compromised", key.id)
        return True

    async def expiring_keys(self, now: datetime) -> list[Condition]:
        """Active keys that expire within 7 days."""
        keys = await ApiKey.filter(
            status=KeyStatus.ACTIVE, expires_at__gt=now, expires_at__lte=now + EXPIRY_NOTICE
        )
        return [
            Condition(
                source="keys.expiring",
                kind="KEY_EXPIRING",
                subject=f"key:{k.id}",
                severity=Severity.WARNING,
                message=f"key {k.name} ({k.masked_key}) expires at "
                f"{k.expires_at:%Y-%m-%d %H:%M} UTC",
                tenant_id=k.tenant_id,
                key_id=k.id,
                value=(k.expires_at - now).total_seconds() / 86_400 if k.expires_at else None,
            )
            for k in keys
        ]

    async def rotation_due(self, now: datetime) -> list[Condition]:
        """Active keys older than their rotation period since their last rotation."""
        keys = await ApiKey.filter(status=KeyStatus.ACTIVE, rotation_period_days__isnull=False)
        found = []
        for k in keys:
            since = k.rotated_at or k.created_at
            due = since + timedelta(days=k.rotation_period_days or 0)
            if due <= now:
                found.append(
                    Condition(
                        source="keys.rotation_due",
                        kind="KEY_ROTATION_DUE",
                        subject=f"key:{k.id}",
                        severity=Severity.WARNING,
                        message=f"key {k.name} ({k.masked_key}) was due for rotation on "
                        f"{due:%Y-%m-%d} (every {k.rotation_period_days} days)",
                        tenant_id=k.tenant_id,
                        key_id=k.id,
                        value=(now - due).total_seconds() / 86_400,
                    )
                )
        return found

    async def quota(self, now: datetime) -> list[Condition]:
        """Keys at 80% (WARNING) or 100% (CRITICAL) of their quota."""
        keys = await ApiKey.filter(status=KeyStatus.ACTIVE).select_related("plan")
        found = []
        for use in await quota_use(self.analytics, WORKER, None, keys, now):
            if use.percent < QUOTA_WARNING:
                continue
            severity = Severity.CRITICAL if use.percent >= QUOTA_CRITICAL else Severity.WARNING
            found.append(
                Condition(
                    source="quota",
                    kind="QUOTA_THRESHOLD",
                    subject=f"key:{use.key.id}",
                    severity=severity,
                    message=f"key {use.key.name} used {use.used:,} of its {use.quota.limit:,} "
                    f"{use.quota.period.value.lower()} quota ({use.percent:.0f}%)",
                    tenant_id=use.key.tenant_id,
                    key_id=use.key.id,
                    value=use.percent,
                    threshold=QUOTA_CRITICAL if severity is Severity.CRITICAL else QUOTA_WARNING,
                )
            )
        return found

    async def budget_thresholds(self, now: datetime) -> list[Condition]:
        """Budgets past one of their thresholds this period (CRITICAL from 100%)."""
        found = []
        for budget in await Budget.all():
            status = await self.budgets.status(budget, now)
            crossed = [t for t in budget.thresholds if status.percent_used >= t]
            if not crossed:
                continue
            top = max(crossed)
            found.append(
                Condition(
                    source="budgets",
                    kind="BUDGET_THRESHOLD",
                    subject=f"budget:{budget.id}",
                    severity=Severity.CRITICAL if top >= 100 else Severity.WARNING,
                    message=f"budget {budget.name}: {status.spent} {budget.currency} spent, "
                    f"{status.percent_used:.0f}% of {budget.amount} this period",
                    tenant_id=budget.tenant_id,
                    value=status.percent_used,
                    threshold=float(top),
                )
            )
        return found

    async def live_components_healthy(self) -> bool:
        """Redis and the broadcaster answer well (checked on every tick of an idle engine,
        without a database statement: an alert about the database can be stored only
        once it answers, and a full evaluation checks it)."""
        checks = await asyncio.gather(self.health.redis(), self.health.broadcaster())
        return all(check.status is HealthStatus.HEALTHY for check in checks)

    async def infrastructure(self, now: datetime) -> list[Condition]:
        """Database, Redis or the broadcaster degraded or down."""
        checks = [self.health.database(), self.health.redis(), self.health.broadcaster()]
        found = []
        for check in checks:
            component = await check
            if component.status is HealthStatus.HEALTHY:
                continue
            found.append(
                Condition(
                    source="infrastructure",
                    kind="INFRASTRUCTURE_DEGRADED",
                    subject=f"component:{component.name}",
                    severity=Severity.CRITICAL
                    if component.status is HealthStatus.UNHEALTHY
                    else Severity.WARNING,
                    message=f"{component.name} is {component.status.value.lower()}: "
                    f"{component.detail}",
                    tenant_id=None,
                    value=component.latency_ms,
                    cooldown_seconds=60,
                )
            )
        return found

    async def traffic_anomalies(self, now: datetime) -> list[Condition]:
        """Per key: requests and error rate of the last complete 5-minute interval against
        the key's own baseline for that hour of the day."""
        current = floor(Granularity.MINUTE, now)
        current -= timedelta(minutes=current.minute % 5)
        last = current - ANOMALY_INTERVAL
        counts = await self._per_key(last, current)
        found = []
        requests = await _Baselines.load("anomaly.requests")
        errors = await _Baselines.load("anomaly.errors")
        keys = set(counts) | requests.subjects()
        for key in keys:
            tenant, n, failed = counts.get(key, (None, 0, 0))
            rate = 100.0 * failed / n if n else 0.0
            traffic = requests.judge(key, last)
            if traffic is not None and (
                n >= ANOMALY_MIN_REQUESTS or traffic.mean >= ANOMALY_MIN_REQUESTS
            ):
                z = traffic.z(float(n))
                if abs(z) >= ANOMALY_Z:
                    direction = "spike" if z > 0 else "drop"
                    found.append(
                        Condition(
                            source="anomaly.traffic",
                            kind="TRAFFIC_ANOMALY",
                            subject=f"key:{key}",
                            severity=Severity.WARNING,
                            message=f"traffic {direction} on key {key}: {n} requests in 5 minutes, "
                            f"usually {traffic.mean:.0f} (z = {z:+.1f})",
                            tenant_id=tenant,
                            key_id=UUID(key),
                            value=float(n),
                            threshold=traffic.mean,
                        )
                    )
            usual = errors.judge(key, last) if n else None
            if (
                usual is not None and n >= ANOMALY_MIN_REQUESTS
                and usual.z(rate) >= ANOMALY_Z and rate - usual.mean >= ERROR_RATE_MIN_JUMP
            ):  # fmt: skip
                found.append(
                    Condition(
                        source="anomaly.traffic",
                        kind="ERROR_RATE_ANOMALY",
                        subject=f"key:{key}/errors",
                        severity=Severity.WARNING,
                        message=f"error rate of key {key} is {rate:.1f}% over 5 minutes, "
                        f"usually {usual.mean:.1f}%",
                        tenant_id=tenant,
                        key_id=UUID(key),
                        value=rate,
                        threshold=usual.mean,
                    )
                )
        # The interval before `last` is complete and judged: fold it in (once), so that
        # `last` stays judged against the same baseline on every evaluation until it passes.
        previous = last - ANOMALY_INTERVAL
        if requests.learned(previous):  # by an earlier evaluation within this interval
            return found
        earlier = await self._per_key(previous, last)
        silent = (requests.subjects() | errors.subjects()) - set(earlier)
        await requests.learn(
            {k: float(n) for k, (_, n, _) in earlier.items()} | dict.fromkeys(silent, 0.0),
            previous,
        )
        await errors.learn({k: 100.0 * f / n for k, (_, n, f) in earlier.items() if n}, previous)
        return found

    async def _per_key(
        self, start: datetime, end: datetime
    ) -> dict[str, tuple[UUID | None, int, int]]:
        rows = await self.analytics.buckets(
            WORKER, UsageQuery(start, end), [Dimension.TENANT, Dimension.API_KEY], None, False
        )
        result: dict[str, tuple[UUID | None, int, int]] = {}
        for row in rows:
            key = row.group.get(Dimension.API_KEY)
            if key is None:
                continue
            m = row.measures
            tenant = as_uuid(row.group.get(Dimension.TENANT))
            _, n, failed = result.get(str(key), (tenant, 0, 0))
            result[str(key)] = (tenant, n + m.requests, failed + m.errors - m.rejected)
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
            WORKER, day, day + timedelta(days=1), [CostDimension.SERVICE, CostDimension.TENANT]
        )
        spend: dict[str, tuple[UUID | None, float, str]] = {}
        for line in lines:
            tenant = as_uuid(line.group[CostDimension.TENANT])
            subject = f"tenant:{tenant}/service:{line.group[CostDimension.SERVICE]}"
            spend[subject] = (tenant, float(line.amount), line.currency)
        return spend


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
