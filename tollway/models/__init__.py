"""Tortoise models, one module per aggregate."""

from tollway.models.audit import AuditEntry
from tollway.models.tenants import Tenant, TenantStatus
from tollway.models.workers import WorkerHeartbeat

__all__ = ["AuditEntry", "Tenant", "TenantStatus", "WorkerHeartbeat"]
