"""Tortoise models, one module per aggregate."""

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
from tollway.models.workers import WorkerHeartbeat

__all__ = [
    "ApiKey",
    "ApiKeySecret",
    "AuditEntry",
    "KeyEnvironment",
    "KeyStatus",
    "OwnerType",
    "Plan",
    "SecurityEvent",
    "Tenant",
    "TenantStatus",
    "WorkerHeartbeat",
]
