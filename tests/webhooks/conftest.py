"""Webhook fixtures: the services with a dispatcher the test drives, and a clean slate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import LiveServer
from tollway.app import build_services
from tollway.auth.principal import WORKER
from tollway.models import WebhookEndpoint
from tollway.services import Services
from tollway.webhooks.endpoints import EndpointFields


@pytest.fixture
async def hooks(server: LiveServer) -> AsyncIterator[Services]:
    """Services whose webhooks may reach loopback receivers; the test calls
    `hooks.webhooks.run_once(now)` to deliver."""
    settings: Any = server.settings
    services = build_services(settings.model_copy(update={"webhook_allow_private_networks": True}))
    await services.bus.connect()
    try:
        yield services
    finally:
        await WebhookEndpoint.all().delete()
        await services.webhooks.aclose()
        await services.bus.disconnect()


async def add_endpoint(
    services: Services, tenant_id: str, url: str, **fields: Any
) -> tuple[WebhookEndpoint, str]:
    """An endpoint (to a loopback receiver, which only the unguarded service accepts)."""
    from uuid import UUID

    return await services.webhook_endpoints.create(
        WORKER, UUID(tenant_id), new=EndpointFields(url=url, **fields)
    )
