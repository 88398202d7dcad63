"""Tenants: the isolation boundary of every other row."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class TenantStatus(StrEnum):
    """Whether a tenant's keys may be used."""

    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


class Tenant(Model):
    """An organisation using Tollway. Every key, rule and event belongs to one."""

    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=120, unique=True)
    status = fields.CharEnumField(TenantStatus, max_length=16, default=TenantStatus.ACTIVE)
    metadata: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    auto_disable_compromised_keys = fields.BooleanField(default=False)
    """Security policy: disable a key the detectors judge compromised (audited)."""
    anonymize_ips = fields.BooleanField(null=True)
    """Data policy: store client addresses as their network (NULL: the deployment default)."""
    request_log_retention_days = fields.IntField(null=True)
    security_event_retention_days = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "tenants"
        ordering = ("created_at", "id")
