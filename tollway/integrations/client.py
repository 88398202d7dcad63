"""`IntegrationClients.client(...)`: an `httpx.AsyncClient` for one integration, with its base
URL, its credentials injected (opened from the keyring, never handed to the caller) and every
destination checked by the SSRF guard at call time."""

from __future__ import annotations

import json
from uuid import UUID

import httpx

from tollway.auth.principal import KEY_USE_ROLES, Principal
from tollway.errors import Conflict
from tollway.integrations.auth import auth_for
from tollway.integrations.credentials import SHAPES
from tollway.integrations.registry import CREDENTIALS, credential_owner, owned_integration
from tollway.keyring.vault import Vault
from tollway.models import Integration
from tollway.webhooks.guard import check_destination

DEFAULT_TIMEOUT = 10.0


class GuardedTransport(httpx.AsyncHTTPTransport):
    """Refuses a request whose host is, or resolves to, a private address (unless allowed),
    on every call: a redirect or a DNS change cannot reach what registration would refuse."""

    def __init__(self, *, allow_private: bool) -> None:
        super().__init__()
        self.allow_private = allow_private

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await check_destination(str(request.url), self.allow_private)
        return await super().handle_async_request(request)


class IntegrationClients:
    """Clients for calling providers through their integrations."""

    def __init__(self, vault: Vault, *, allow_private: bool) -> None:
        self._vault = vault
        self._allow_private = allow_private

    async def client(
        self,
        principal: Principal,
        integration_id: UUID,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT,
    ) -> httpx.AsyncClient:
        """A client for the integration (close it, or use it in `async with`)."""
        principal.require_role(KEY_USE_ROLES, "call integrations")
        integration = await owned_integration(principal, integration_id)
        if not integration.enabled:
            raise Conflict(f"integration {integration.name!r} is disabled")
        return httpx.AsyncClient(
            base_url=integration.base_url,
            auth=await self._auth(integration),
            transport=GuardedTransport(allow_private=self._allow_private),
            timeout=timeout_seconds,
            follow_redirects=False,
        )

    async def _auth(self, integration: Integration) -> httpx.Auth | None:
        if integration.credentials is None or integration.credential_type is None:
            return None
        plain = await self._vault.open(
            credential_owner(integration.id, integration.tenant_id),
            CREDENTIALS,
            sealed=integration.credentials,
            purpose="outbound call",
        )
        shape = SHAPES[integration.credential_type].model_validate(json.loads(plain))
        return auth_for(shape)
