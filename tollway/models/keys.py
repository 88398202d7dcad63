"""API keys, their secrets (several during a rotation grace period) and plans."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise import fields
from tortoise.models import Model


class KeyEnvironment(StrEnum):
    """Which secret prefix a key gets: `tw_live_` or `tw_test_`."""

    LIVE = "LIVE"
    TEST = "TEST"


class KeyStatus(StrEnum):
    """Lifecycle of a key. EXPIRED is derived from `expires_at` when read."""

    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


class OwnerType(StrEnum):
    """Who the key was issued to."""

    CUSTOMER = "CUSTOMER"
    RESELLER = "RESELLER"
    ADMIN = "ADMIN"
    SERVICE = "SERVICE"


class Plan(Model):
    """Named defaults (windows and quota) that keys inherit and may override."""

    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=60, unique=True)
    description = fields.TextField(default="")
    rate_limits: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    quota: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "plans"


class ApiKey(Model):
    """A key issued by a tenant. Only hashes of its secrets are stored."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "tollway.Tenant", related_name="api_keys", on_delete=fields.CASCADE
    )
    tenant_id: UUID
    name = fields.CharField(max_length=120)
    description = fields.TextField(default="")
    owner_type = fields.CharEnumField(OwnerType, max_length=16, default=OwnerType.CUSTOMER)
    owner_id = fields.CharField(max_length=200, null=True)
    environment = fields.CharEnumField(KeyEnvironment, max_length=8, default=KeyEnvironment.LIVE)
    prefix = fields.CharField(max_length=16, db_index=True)
    masked_key = fields.CharField(max_length=40)
    status = fields.CharEnumField(KeyStatus, max_length=16, default=KeyStatus.ACTIVE)
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    allowed_ips: fields.JSONField[list[str]] = fields.JSONField(default=list)
    allowed_origins: fields.JSONField[list[str]] = fields.JSONField(default=list)
    expires_at = fields.DatetimeField(null=True)
    plan: fields.ForeignKeyNullableRelation[Plan] = fields.ForeignKeyField(
        "tollway.Plan", related_name="api_keys", null=True, on_delete=fields.SET_NULL
    )
    plan_id: UUID | None
    rate_limits: fields.JSONField[list[dict[str, Any]] | None] = fields.JSONField(null=True)
    quota: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
    rotation_period_days = fields.IntField(null=True)
    metadata: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    last_used_at = fields.DatetimeField(null=True)
    total_requests = fields.BigIntField(default=0)
    rotated_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    revoked_reason: str | None = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "api_keys"
        indexes = (("tenant_id", "created_at"), ("tenant_id", "status"))


class ApiKeySecret(Model):
    """The SHA-256 of one secret. A rotated-out secret keeps working until `expires_at`."""

    hash = fields.CharField(max_length=64, primary_key=True)
    key: fields.ForeignKeyRelation[ApiKey] = fields.ForeignKeyField(
        "tollway.ApiKey", related_name="secrets", on_delete=fields.CASCADE
    )
    key_id: UUID
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_key_secrets"


class SecurityEvent(Model):
    """A denied request: who, from where, and why."""

    id = fields.UUIDField(primary_key=True)
    at = fields.DatetimeField(db_index=True)
    tenant_id = fields.UUIDField(null=True)
    key_id = fields.UUIDField(null=True)
    key_prefix = fields.CharField(max_length=16, null=True)
    client_ip = fields.CharField(max_length=64, null=True)
    reason = fields.CharField(max_length=40)
    method = fields.CharField(max_length=10)
    path = fields.CharField(max_length=500)
    user_agent = fields.CharField(max_length=300, null=True)
    risk_score = fields.SmallIntField(default=0)
    """0-100: how strongly this denial suggests an attack (see `alerts.security.risk_of`)."""

    class Meta:
        table = "security_events"
        indexes = (("tenant_id", "at"), ("client_ip", "at"))
