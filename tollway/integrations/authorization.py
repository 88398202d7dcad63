"""The OAuth2 authorization code flow with PKCE: `startIntegrationAuthorization` returns the
provider's consent URL with a one-time `state`; the provider sends the user back to Tollway's
callback, which exchanges the code (with the PKCE verifier only Tollway holds) for tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from tortoise.transactions import in_transaction

from tollway.audit.service import AuditService
from tollway.auth.principal import WRITE_ROLES, Principal, Role
from tollway.errors import BadUserInput, Conflict
from tollway.integrations.credentials import OAuth2AuthorizationCode
from tollway.integrations.oauth import TokenRequestFailed, authorization_url
from tollway.integrations.registry import (
    credential_owner,
    open_credentials,
    owned_integration,
)
from tollway.integrations.tokens import TokenKeeper
from tollway.keyring.vault import Vault
from tollway.models import Integration, IntegrationAuthorization

CALLBACK_PATH = "/integrations/oauth/callback"
VERIFIER = "pkce_verifier"
"""The keyring field of a pending authorization's PKCE verifier."""
AUTHORIZATION_TTL = timedelta(minutes=10)


class AuthorizationStart(NamedTuple):
    """Where to send the user, and until when the flow may complete."""

    url: str
    state: str
    expires_at: datetime


class AuthorizationOutcome(NamedTuple):
    """What the callback made of the provider's answer."""

    integration: Integration | None
    error: str | None
    """None when tokens were stored."""
    return_url: str | None


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _return_url(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2048:
        raise BadUserInput("returnUrl must be an http(s) URL")
    return url


class IntegrationAuthorizations:
    """Starting and completing authorization code flows."""

    def __init__(
        self, vault: Vault, keeper: TokenKeeper, *, audit: AuditService, base_url: str
    ) -> None:
        self._vault = vault
        self._keeper = keeper
        self._audit = audit
        self.callback_url = base_url + CALLBACK_PATH

    async def start(
        self, principal: Principal, integration_id: UUID, *, return_url: str | None
    ) -> AuthorizationStart:
        """A consent URL for the integration's provider, valid for 10 minutes."""
        principal.require_role(WRITE_ROLES, "authorize integrations")
        integration = await owned_integration(principal, integration_id)
        shape = await self._shape(integration)
        state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(64)
        owner = credential_owner(integration.id, integration.tenant_id)
        expires_at = self._keeper.now() + AUTHORIZATION_TTL
        async with in_transaction():
            await IntegrationAuthorization.create(
                id=uuid4(), integration_id=integration.id, tenant_id=integration.tenant_id,
                state_hash=_state_hash(state), redirect_uri=self.callback_url,
                code_verifier=await self._vault.seal(owner, VERIFIER, plaintext=verifier),
                return_url=_return_url(return_url), started_by=principal.subject[:200],
                expires_at=expires_at,
            )  # fmt: skip
            entry = await self._audit.record(
                principal, "integration.authorization_started", target_type="integration",
                target_id=integration.id, tenant_id=integration.tenant_id, changes={},
            )  # fmt: skip
        self._audit.announce(entry)
        url = authorization_url(
            shape, redirect_uri=self.callback_url, state=state, verifier=verifier
        )
        return AuthorizationStart(url, state, expires_at)

    async def complete(
        self, *, state: str | None, code: str | None, error: str | None
    ) -> AuthorizationOutcome:
        """Consume the flow `state` names (once) and exchange `code` for tokens."""
        if not state:
            return AuthorizationOutcome(None, "the callback carries no state", None)
        async with in_transaction():
            pending = await IntegrationAuthorization.get_or_none(state_hash=_state_hash(state))
            if pending is None or not await IntegrationAuthorization.filter(id=pending.id).delete():
                return AuthorizationOutcome(None, "unknown or already used state", None)
        if self._keeper.now() >= pending.expires_at:
            return AuthorizationOutcome(None, "the authorization expired", pending.return_url)
        integration = await Integration.get_or_none(id=pending.integration_id)
        if integration is None:
            return AuthorizationOutcome(None, "the integration was deleted", pending.return_url)
        if error or not code:
            return AuthorizationOutcome(
                integration, f"the provider refused: {error or 'no code'}"[:300],
                pending.return_url,
            )  # fmt: skip
        failure = await self._exchange(integration, pending, code)
        return AuthorizationOutcome(integration, failure, pending.return_url)

    async def _exchange(
        self, integration: Integration, pending: IntegrationAuthorization, code: str
    ) -> str | None:
        owner = credential_owner(integration.id, integration.tenant_id)
        verifier = await self._vault.open(
            owner, VERIFIER, sealed=pending.code_verifier, purpose="authorization callback"
        )
        shape = await self._shape(integration)
        try:
            tokens = await self._keeper.endpoint.exchange_code(
                shape, code=code, redirect_uri=pending.redirect_uri, verifier=verifier
            )
        except TokenRequestFailed as exc:
            return str(exc)
        await self._keeper.store(integration, tokens)
        by = Principal(f"oauth-callback:{pending.started_by}", Role.ADMIN, integration.tenant_id)
        entry = await self._audit.record(
            by, "integration.authorized", target_type="integration", target_id=integration.id,
            tenant_id=integration.tenant_id, changes={"scope": tokens.scope},
        )  # fmt: skip
        self._audit.announce(entry)
        return None

    async def _shape(self, integration: Integration) -> OAuth2AuthorizationCode:
        shape = await open_credentials(self._vault, integration, purpose="authorization")
        if not isinstance(shape, OAuth2AuthorizationCode):
            raise Conflict(
                f"integration {integration.name!r} has no OAUTH2_AUTHORIZATION_CODE credentials"
            )
        return shape
