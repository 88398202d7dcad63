"""OAuth2 state of integrations: their tokens, and the authorizations waiting for a callback."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class OAuthState(StrEnum):
    """Where an OAuth2 integration's tokens stand."""

    PENDING = "PENDING"
    """No tokens yet: the authorization code flow has not completed."""
    CONNECTED = "CONNECTED"
    FAILING = "FAILING"
    """Renewing failed; retried with backoff until it succeeds or gives up."""
    FAILED = "FAILED"
    """Renewing gave up (the integration is AUTH_FAILED) until it succeeds again or the
    integration is authorized anew."""


class IntegrationToken(Model):
    """An integration's OAuth2 tokens (sealed on the keyring) and how renewing them goes.

    `version` moves with every write, and `lease_until` is the claim of the one instance
    renewing them, so that many instances renew once."""

    integration_id = fields.UUIDField(primary_key=True)
    tenant_id = fields.UUIDField()
    state = fields.CharEnumField(OAuthState, max_length=20, default=OAuthState.PENDING)
    tokens = fields.TextField(null=True)
    """Access token, refresh token, type and scope as JSON, sealed."""
    token_hint = fields.CharField(max_length=8, null=True)
    scope = fields.CharField(max_length=2000, null=True)
    obtained_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)
    renewals = fields.IntField(default=0)
    failures = fields.IntField(default=0)
    """Failed renewals in a row."""
    failing_since = fields.DatetimeField(null=True)
    retry_at = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=300, null=True)
    lease_until = fields.DatetimeField(null=True)
    version = fields.IntField(default=0)

    class Meta:
        table = "integration_tokens"


class IntegrationAuthorization(Model):
    """An authorization code flow started by `startIntegrationAuthorization`, waiting for
    the provider to send the user back to the callback with its `state`."""

    id = fields.UUIDField(primary_key=True)
    integration_id = fields.UUIDField(db_index=True)
    tenant_id = fields.UUIDField()
    state_hash = fields.CharField(max_length=64, unique=True)
    """SHA-256 of the `state` parameter (the state itself is not stored)."""
    code_verifier = fields.TextField()
    """The PKCE verifier, sealed."""
    redirect_uri = fields.CharField(max_length=2048)
    return_url = fields.CharField(max_length=2048, null=True)
    started_by = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "integration_authorizations"
