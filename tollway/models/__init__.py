"""Tortoise models, one module per aggregate."""

from tollway.models.adjustments import AdjustmentKind, AdjustmentScope, LimitAdjustment
from tollway.models.audit import AuditEntry
from tollway.models.costs import (
    Budget,
    BudgetEvent,
    BudgetPeriod,
    BudgetScope,
    MeteredService,
    PriceRate,
)
from tollway.models.keys import (
    ApiKey,
    ApiKeySecret,
    KeyEnvironment,
    KeyStatus,
    OwnerType,
    Plan,
    SecurityEvent,
)
from tollway.models.tenants import Tenant, TenantStatus
from tollway.models.usage import RollupCursor, UsageDirtyMinute, UsageEvent, UsageRollup
from tollway.models.workers import WorkerHeartbeat

__all__ = [
    "AdjustmentKind",
    "AdjustmentScope",
    "ApiKey",
    "ApiKeySecret",
    "AuditEntry",
    "Budget",
    "BudgetEvent",
    "BudgetPeriod",
    "BudgetScope",
    "KeyEnvironment",
    "KeyStatus",
    "LimitAdjustment",
    "MeteredService",
    "OwnerType",
    "Plan",
    "PriceRate",
    "RollupCursor",
    "SecurityEvent",
    "Tenant",
    "TenantStatus",
    "UsageDirtyMinute",
    "UsageEvent",
    "UsageRollup",
    "WorkerHeartbeat",
]
