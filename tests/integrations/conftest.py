"""Integration fixtures: a second instance on the same database, and services, that may reach
loopback providers (and catalogue URLs that do not resolve offline)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.conftest import GraphQL, LiveServer, serving
from tollway.app import build_services
from tollway.auth.tokens import TokenAuthority
from tollway.services import Services
from tollway.settings import Settings


@pytest.fixture
async def proxy_server(server: LiveServer) -> AsyncIterator[LiveServer]:
    """An instance sharing the session server's database that may reach loopback providers
    (the proxy, and OAuth2 callbacks exchanging codes with a local provider)."""
    settings: Any = server.settings
    async with serving(
        settings.model_copy(update={"webhook_allow_private_networks": True})
    ) as live:
        yield live


@pytest.fixture
async def pgql(proxy_server: LiveServer, authority: TokenAuthority) -> AsyncIterator[GraphQL]:
    """GraphQL against the instance that may register loopback providers."""
    async with httpx.AsyncClient(base_url=proxy_server.base_url, timeout=10) as http:
        yield GraphQL(http, authority)


@pytest.fixture
async def services(server: LiveServer) -> AsyncIterator[Services]:
    """Services of the server's settings that may reach any address."""
    settings: Any = server.settings
    async with built_services(
        settings.model_copy(update={"webhook_allow_private_networks": True})
    ) as built:
        yield built


@asynccontextmanager
async def built_services(settings: Settings) -> AsyncIterator[Services]:
    """Services of `settings`, their bus connected, closed at the end."""
    built = build_services(settings)
    await built.bus.connect()
    try:
        yield built
    finally:
        await built.integration_clients.aclose()
        await built.bus.disconnect()
