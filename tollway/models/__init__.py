"""Tortoise models, one module per aggregate."""

from tollway.models.adjustments import AdjustmentKind, AdjustmentScope, LimitAdjustment
from tollway.models.audit import AuditEntry
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
from tollway.models.usage import UsageEvent
from tollway.models.workers import WorkerHeartbeat

__all__ = [
    "AdjustmentKind",
    "AdjustmentScope",
    "ApiKey",
    "ApiKeySecret",
    "AuditEntry",
    "KeyEnvironment",
    "KeyStatus",
    "LimitAdjustment",
    "OwnerType",
    "Plan",
    "SecurityEvent",
    "Tenant",
    "TenantStatus",
    "UsageEvent",
    "WorkerHeartbeat",
]
