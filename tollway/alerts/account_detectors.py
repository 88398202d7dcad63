"""Account detectors: keys about to expire or due for rotation, quotas and budgets nearly
used up."""

from __future__ import annotations

from datetime import datetime, timedelta

from tollway.alerts.lifecycle import Condition
from tollway.auth.principal import WORKER
from tollway.costs.budgets import BudgetService
from tollway.metering.analytics import AnalyticsService
from tollway.metering.quota_use import quota_use
from tollway.models import (
    ApiKey,
    Budget,
    KeyStatus,
    Severity,
)

EXPIRY_NOTICE = timedelta(days=7)
QUOTA_WARNING, QUOTA_CRITICAL = 80.0, 100.0


class AccountDetectors:
    """Conditions of a tenant's keys, quotas and budgets."""

    def __init__(self, analytics: AnalyticsService, budgets: BudgetService) -> None:
        self.analytics = analytics
        self.budgets = budgets

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
        for use in await quota_use(self.analytics, WORKER, tenant=None, keys=keys, now=now):
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
