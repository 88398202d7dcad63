"""Detectors: conditions found in the data without a user-written threshold.

Each detector returns the conditions that hold at `now`; the lifecycle opens, counts and
resolves their alerts. The detectors themselves live by kind: `security_detectors`,
`account_detectors`, `anomaly_detectors`; infrastructure is checked here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from tollway.alerts.account_detectors import AccountDetectors
from tollway.alerts.anomaly_detectors import AnomalyDetectors
from tollway.alerts.lifecycle import Condition
from tollway.alerts.security_detectors import SecurityDetectors
from tollway.audit.service import AuditService
from tollway.costs.budgets import BudgetService
from tollway.costs.service import CostService
from tollway.health.checks import HealthChecker, HealthStatus
from tollway.keys.service import KeyService
from tollway.metering.analytics import AnalyticsService
from tollway.models import (
    Severity,
)


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
        *,
        budgets: BudgetService,
        keys: KeyService,
        audit: AuditService,
        health: HealthChecker,
    ) -> None:
        self.security = SecurityDetectors(keys, audit)
        self.account = AccountDetectors(analytics, budgets)
        self.anomalies = AnomalyDetectors(analytics, costs)
        self.health = health

    def all(self) -> list[Detector]:
        """Detectors in evaluation order."""
        security, account, anomalies = self.security, self.account, self.anomalies
        return [
            Detector("security.brute_force", security.brute_force),
            Detector("security.revoked_key_use", security.revoked_key_use),
            Detector("security.many_networks", security.many_networks),
            Detector("keys.expiring", account.expiring_keys, slow=True),
            Detector("keys.rotation_due", account.rotation_due, slow=True),
            Detector("quota", account.quota, slow=True),
            Detector("budgets", account.budget_thresholds, slow=True),
            Detector("infrastructure", self.infrastructure),
            Detector("anomaly.traffic", anomalies.traffic_anomalies, slow=True),
            Detector("anomaly.cost", anomalies.cost_anomalies, slow=True),
        ]

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
