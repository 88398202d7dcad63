"""`IntegrationClients.client(...)`: an `httpx.AsyncClient` for one integration, with its base
URL, its credentials injected (opened from the keyring, never handed to the caller) and every
destination checked by the SSRF guard at call time."""

from __future__ import annotations

import json
import ssl
import time
from datetime import datetime
from typing import NamedTuple
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
RETIRE_SECONDS = 6 * DEFAULT_TIMEOUT
"""How long a replaced client stays open for the requests still using it."""


class GuardedTransport(httpx.AsyncHTTPTransport):
    """Refuses a request whose host is, or resolves to, a private address (unless allowed),
    on every call: a redirect or a DNS change cannot reach what registration would refuse."""

    def __init__(self, *, allow_private: bool, verify: ssl.SSLContext) -> None:
        super().__init__(verify=verify)
        self.allow_private = allow_private

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await check_destination(str(request.url), self.allow_private)
        return await super().handle_async_request(request)


class _Cached(NamedTuple):
    client: httpx.AsyncClient
    version: datetime
    """The integration's `updated_at` when the client was made: any change makes a new one."""


class _Retired(NamedTuple):
    since: float
    client: httpx.AsyncClient


class IntegrationClients:
    """Clients for calling providers through their integrations: one pooled client per
    integration and process, made again whenever the integration changes."""

    def __init__(self, vault: Vault, *, allow_private: bool) -> None:
        self._vault = vault
        self._allow_private = allow_private
        self._tls = ssl.create_default_context()  # loading CA certificates costs milliseconds
        self._clients: dict[UUID, _Cached] = {}
        self._retired: list[_Retired] = []

    async def client(self, principal: Principal, integration_id: UUID) -> httpx.AsyncClient:
        """The integration's shared client (do not close it: `aclose()` does, at shutdown)."""
        principal.require_role(KEY_USE_ROLES, "call integrations")
        integration = await owned_integration(principal, integration_id)
        if not integration.enabled:
            raise Conflict(f"integration {integration.name!r} is disabled")
        cached = self._clients.get(integration.id)
        if cached is not None and cached.version == integration.updated_at:
            return cached.client
        client = httpx.AsyncClient(
            base_url=integration.base_url,
            auth=await self._auth(integration),
            transport=GuardedTransport(allow_private=self._allow_private, verify=self._tls),
            timeout=DEFAULT_TIMEOUT,
            follow_redirects=False,
        )
        self._clients[integration.id] = _Cached(client, integration.updated_at)
        now = time.monotonic()
        if cached is not None:  # requests may still be in flight on it: close it later
            self._retired.append(_Retired(now, cached.client))
        while self._retired and now - self._retired[0].since > RETIRE_SECONDS:
            await self._retired.pop(0).client.aclose()
        return client

    async def aclose(self) -> None:
        """Close every pooled client."""
        clients, self._clients = self._clients, {}
        retired, self._retired = self._retired, []
        for client in [c.client for c in clients.values()] + [r.client for r in retired]:
            await client.aclose()

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
