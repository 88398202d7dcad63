"""Integrations: the third-party services a tenant depends on, and the provider catalogue."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class IntegrationType(StrEnum):
    """What kind of service an integration is."""

    PAYMENT = "PAYMENT"
    SMS = "SMS"
    EMAIL = "EMAIL"
    STORAGE = "STORAGE"
    AI = "AI"
    ANALYTICS = "ANALYTICS"
    CUSTOM = "CUSTOM"


class CredentialType(StrEnum):
    """How Tollway authenticates to the provider."""

    API_KEY = "API_KEY"
    BASIC = "BASIC"
    BEARER = "BEARER"
    HMAC = "HMAC"
    OAUTH2_CLIENT_CREDENTIALS = "OAUTH2_CLIENT_CREDENTIALS"
    OAUTH2_AUTHORIZATION_CODE = "OAUTH2_AUTHORIZATION_CODE"


class IntegrationStatus(StrEnum):
    """Health as the probes see it, UNKNOWN until the first probe."""

    UNKNOWN = "UNKNOWN"
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    DOWN = "DOWN"
    AUTH_FAILED = "AUTH_FAILED"


class IntegrationEnvironment(StrEnum):
    """Whether the integration reaches the provider's live or sandbox side."""

    PRODUCTION = "PRODUCTION"
    SANDBOX = "SANDBOX"


class IntegrationProvider(Model):
    """A known provider: where it lives, how it authenticates, how to probe its health."""

    name = fields.CharField(max_length=60, primary_key=True)
    display_name = fields.CharField(max_length=120)
    type = fields.CharEnumField(IntegrationType, max_length=20)
    base_url = fields.CharField(max_length=2048, null=True)
    auth_style = fields.CharEnumField(CredentialType, max_length=40, null=True)
    api_key_header = fields.CharField(max_length=100, null=True)
    api_key_query = fields.CharField(max_length=100, null=True)
    probe_method = fields.CharField(max_length=10, default="GET")
    probe_path = fields.CharField(max_length=2048, null=True)
    probe_statuses: fields.JSONField[list[int]] = fields.JSONField(default=list)
    probe_timeout_seconds = fields.FloatField(default=5.0)
    probe_interval_seconds = fields.IntField(default=60)
    built_in = fields.BooleanField(default=False)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "integration_providers"


class Integration(Model):
    """An integration of a tenant with one provider, its credentials sealed on the keyring."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.UUIDField(db_index=True)
    name = fields.CharField(max_length=120)
    type = fields.CharEnumField(IntegrationType, max_length=20)
    provider = fields.CharField(max_length=60, db_index=True)
    base_url = fields.CharField(max_length=2048)
    environment = fields.CharEnumField(
        IntegrationEnvironment, max_length=20, default=IntegrationEnvironment.PRODUCTION
    )
    config: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    enabled = fields.BooleanField(default=True)
    credential_type = fields.CharEnumField(CredentialType, max_length=40, null=True)
    credentials = fields.TextField(null=True)
    """The credential values as JSON, sealed on the keyring."""
    credential_hint = fields.CharField(max_length=8, null=True)
    """The last 4 characters of the credential's secret: all the API ever shows of it."""
    status = fields.CharEnumField(
        IntegrationStatus, max_length=20, default=IntegrationStatus.UNKNOWN
    )
    status_changed_at = fields.DatetimeField(null=True)
    probe_failures = fields.IntField(default=0)
    """Failed health probes in a row (what takes it DOWN)."""
    probe_successes = fields.IntField(default=0)
    """Passed health probes in a row (what brings it back)."""
    next_probe_at = fields.DatetimeField(null=True, db_index=True)
    """When the periodic probe is next due (claimed by moving it on, so one worker probes)."""
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "integrations"
        unique_together = (("tenant_id", "name"),)


class IntegrationCheck(Model):
    """One health probe of an integration: its answer and how long it took."""

    id = fields.UUIDField(primary_key=True)
    integration_id = fields.UUIDField()
    tenant_id = fields.UUIDField()
    at = fields.DatetimeField(auto_now_add=True)
    ok = fields.BooleanField()
    status_code = fields.IntField(null=True)
    latency_ms = fields.FloatField()
    error = fields.CharField(max_length=300, null=True)
    status_after = fields.CharEnumField(IntegrationStatus, max_length=20)
    """The integration's status once this check was counted."""

    class Meta:
        table = "integration_checks"
        indexes = (("integration_id", "at"), ("at",))
