"""The audit log: one row per change made through the admin API."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class AuditEntry(Model):
    """Who changed what, when, and which fields (secrets redacted)."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.UUIDField(null=True, db_index=True)
    actor = fields.CharField(max_length=200)
    actor_role = fields.CharField(max_length=32)
    action = fields.CharField(max_length=80, db_index=True)
    target_type = fields.CharField(max_length=60)
    target_id = fields.CharField(max_length=80, null=True)
    changes: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "audit_entries"
        indexes = (("tenant_id", "at"), ("target_id", "target_type"))
