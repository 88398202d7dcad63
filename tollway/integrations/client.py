"""`IntegrationClients.client(...)`: an `httpx.AsyncClient` for one integration, with its base
URL, its credentials injected (opened from the keyring, never handed to the caller) and every
destination checked by the SSRF guard at call time."""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

import httpx

from tollway.auth.principal import KEY_USE_ROLES, Principal
from tollway.clock import wall_clock_ms
from tollway.errors import Conflict
from tollway.integrations.auth import auth_for
from tollway.integrations.breaker import (
    DEFAULT_POLICY,
    Breaker,
    BreakerChange,
    BreakerPolicy,
    BreakerStore,
)
from tollway.integrations.registry import open_credentials, owned_integration
from tollway.integrations.tokens import TokenKeeper
from tollway.keyring.vault import Vault
from tollway.models import Integration
from tollway.webhooks.guard import check_destination

DEFAULT_TIMEOUT = 10.0
SERVER_ERROR = 500
"""Answers from here on count as failures for the breaker (as do timeouts and refused
connections); a 4xx is the caller's doing, not the provider's."""
RETIRE_SECONDS = 6 * DEFAULT_TIMEOUT
"""How long a replaced client stays open for the requests still using it."""
PAST_THE_BREAKER = "tollway.past_the_breaker"
"""A request extension: true for a health probe, which is how Tollway learns a provider is
back, so an open breaker does not stop it and its answer is not counted by the breaker."""


class GuardedTransport(httpx.AsyncHTTPTransport):
    """Refuses a request whose host is, or resolves to, a private address (unless allowed),
    on every call: a redirect or a DNS change cannot reach what registration would refuse."""

    def __init__(
        self, *, allow_private: bool, verify: ssl.SSLContext, breaker: Breaker | None
    ) -> None:
        super().__init__(verify=verify)
        self.allow_private = allow_private
        self.breaker = breaker

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await check_destination(str(request.url), self.allow_private)
        if self.breaker is None or request.extensions.get(PAST_THE_BREAKER):
            return await super().handle_async_request(request)
        await self.breaker.before()  # fails fast while the breaker is open
        try:
            response = await super().handle_async_request(request)
        except httpx.TransportError:
            await self.breaker.after(ok=False)
            raise
        await self.breaker.after(ok=response.status_code < SERVER_ERROR)
        return response


BreakerListener = Callable[[Integration, BreakerChange], Awaitable[None]]


async def _ignore(integration: Integration, change: BreakerChange) -> None:
    return None


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

    def __init__(
        self,
        vault: Vault,
        *,
        allow_private: bool,
        breakers: BreakerStore,
        keeper: TokenKeeper,
        on_breaker_change: BreakerListener = _ignore,
        policy: BreakerPolicy = DEFAULT_POLICY,
        clock: Callable[[], int] = wall_clock_ms,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`tls`: the context every client verifies providers with (made here if not given;
        loading CA certificates costs milliseconds, so one is shared)."""
        self._vault = vault
        self._allow_private = allow_private
        self.breakers = breakers
        self._policy = policy
        self._clock = clock
        self.keeper = keeper
        self._on_breaker_change = on_breaker_change
        self._tls = tls or ssl.create_default_context()
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
            transport=GuardedTransport(
                allow_private=self._allow_private,
                verify=self._tls,
                breaker=self._breaker(integration),
            ),
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

    def _breaker(self, integration: Integration) -> Breaker:
        """The integration's breaker (its state is shared wherever `breakers` is)."""

        async def changed(change: BreakerChange) -> None:
            await self._on_breaker_change(integration, change)

        return Breaker(
            self.breakers, str(integration.id), self._policy, self._clock, on_change=changed
        )

    async def aclose(self) -> None:
        """Close every pooled client."""
        clients, self._clients = self._clients, {}
        retired, self._retired = self._retired, []
        for client in [c.client for c in clients.values()] + [r.client for r in retired]:
            await client.aclose()
        await self.keeper.aclose()

    async def _auth(self, integration: Integration) -> httpx.Auth | None:
        shape = await open_credentials(self._vault, integration, purpose="outbound call")
        return None if shape is None else auth_for(shape, integration, keeper=self.keeper)
