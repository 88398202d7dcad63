"""The `integrationStatus` subscription: health and circuit breaker changes pushed to the
integration's tenant, and to nobody else (foreign ids are refused by tests/auth/test_policy.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from gql import gql as document

from tests.alerts.test_realtime import subscribe
from tests.clock import until
from tests.conftest import GraphQL, LiveServer
from tests.webhooks.receiver import Receiver, Reply, receiving
from tollway.auth.principal import WORKER, Role
from tollway.integrations.registry import IntegrationFields
from tollway.models import Integration
from tollway.services import Services

STATUS = document(
    "subscription($i: ID) { integrationStatus(integrationId: $i) "
    "{ kind integrationId tenantId name previous current reason at } }"
)


@pytest.fixture
async def provider() -> AsyncIterator[Receiver]:
    async with receiving() as receiver:
        yield receiver


async def watched(services: Services, gql: GraphQL, url: str, name: str) -> Integration:
    return await services.integrations.create(
        WORKER, UUID(await gql.create_tenant()),
        new=IntegrationFields(
            name=name, provider="custom", base_url=url, config={"probe_path": "/health"}
        ),
    )  # fmt: skip


async def test_health_and_breaker_changes_reach_the_tenant_only(
    services: Services, server: LiveServer, gql: GraphQL, provider: Receiver
) -> None:
    mine = await watched(services, gql, provider.url, "mine")
    theirs = await watched(services, gql, provider.url, "theirs")
    seen: list[dict[str, Any]] = []
    task = await subscribe(
        server.base_url, gql.token(Role.VIEWER, mine.tenant_id), STATUS, {"i": None}, seen
    )
    try:
        for made in (theirs, mine):
            await services.integration_health.check(WORKER, made.id)
        provider.default = Reply(500)
        client = await services.integration_clients.client(WORKER, mine.id)
        for _ in range(5):  # five failures in a row open the breaker
            await client.get("/charge")
        await until(lambda: len(seen) >= 2)
        await asyncio.sleep(0.2)  # nothing else is on its way
    finally:
        task.cancel()
    changes = [c["integrationStatus"] for c in seen]
    assert [(c["kind"], c["previous"], c["current"]) for c in changes] == [
        ("HEALTH", "UNKNOWN", "HEALTHY"), ("BREAKER", "CLOSED", "OPEN"),
    ]  # fmt: skip
    assert {c["tenantId"] for c in changes} == {str(mine.tenant_id)}
    assert changes[0]["reason"] == "probe passed (HTTP 200)"
