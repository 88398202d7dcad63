"""Integration fixtures: services that may reach loopback providers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import LiveServer
from tollway.app import build_services
from tollway.services import Services


@pytest.fixture
async def services(server: LiveServer) -> AsyncIterator[Services]:
    """Services of the server's settings that may reach any address (a loopback provider,
    or catalogue URLs that do not resolve offline)."""
    settings: Any = server.settings
    built = build_services(settings.model_copy(update={"webhook_allow_private_networks": True}))
    await built.bus.connect()
    try:
        yield built
    finally:
        await built.integration_clients.aclose()
        await built.bus.disconnect()
