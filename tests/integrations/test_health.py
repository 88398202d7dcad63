"""Health probes against a real local provider that goes down and comes back: checks stored
with their latency, and a status with hysteresis (a flapping provider does not flap it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import pairwise
from typing import Any
from uuid import UUID

import pytest

from tests.conftest import GraphQL
from tests.webhooks.receiver import Receiver, Reply, receiving
from tollway.auth.principal import WORKER, Role
from tollway.integrations.health import HealthPolicy, ProbeResult, next_status
from tollway.integrations.registry import CredentialsInput, IntegrationFields
from tollway.models import CredentialType, Integration, IntegrationCheck, IntegrationStatus
from tollway.services import Services

UNKNOWN, HEALTHY, DEGRADED, DOWN, AUTH_FAILED = (
    IntegrationStatus.UNKNOWN, IntegrationStatus.HEALTHY, IntegrationStatus.DEGRADED,
    IntegrationStatus.DOWN, IntegrationStatus.AUTH_FAILED,
)  # fmt: skip


@pytest.fixture
async def provider() -> AsyncIterator[Receiver]:
    async with receiving() as receiver:
        yield receiver


async def watched(services: Services, gql: GraphQL, url: str, **config: Any) -> Integration:
    return await services.integrations.create(
        WORKER,
        UUID(await gql.create_tenant()),
        new=IntegrationFields(
            name="watched", provider="custom", base_url=url,
            config={"probe_path": "/health", **config},
            credentials=CredentialsInput(CredentialType.BEARER, {"token": "t" * 16}),
        ),
    )  # fmt: skip


async def statuses(
    services: Services, made: Integration, replies: list[int], provider: Receiver
) -> list[str]:
    seen = []
    for status in replies:
        provider.default = Reply(status)
        check = await services.integration_health.check(WORKER, made.id)
        seen.append(check.status_after.value)
    return seen


async def test_down_after_three_failures_and_healthy_after_two_successes(
    services: Services, gql: GraphQL, provider: Receiver
) -> None:
    made = await watched(services, gql, provider.url)
    seen = await statuses(services, made, [200, 500, 500, 500, 200, 200], provider)
    assert seen == ["HEALTHY", "DEGRADED", "DEGRADED", "DOWN", "DOWN", "HEALTHY"]
    checks = await IntegrationCheck.filter(integration_id=made.id).order_by("at")
    assert [c.status_code for c in checks] == [200, 500, 500, 500, 200, 200]
    assert all(c.latency_ms > 0 for c in checks) and checks[1].error == "HTTP 500"
    assert {r.path for r in provider.received} == {"/health"}
    assert provider.received[0].headers["authorization"] == "Bearer " + "t" * 16
    row = await Integration.get(id=made.id)
    assert row.status is HEALTHY and row.status_changed_at is not None


async def test_a_flapping_provider_does_not_flap_the_status(
    services: Services, gql: GraphQL, provider: Receiver
) -> None:
    made = await watched(services, gql, provider.url)
    seen = await statuses(services, made, [200] + [500, 200] * 6, provider)
    changes = [b for a, b in pairwise(seen) if a != b]
    assert changes == ["DEGRADED"] and "DOWN" not in seen


async def test_refused_credentials_end_auth_failed(
    services: Services, gql: GraphQL, provider: Receiver
) -> None:
    made = await watched(services, gql, provider.url)
    assert await statuses(services, made, [401, 401, 401], provider) == [
        "DEGRADED", "DEGRADED", "AUTH_FAILED",
    ]  # fmt: skip


async def test_an_unreachable_provider_is_down(services: Services, gql: GraphQL) -> None:
    async with receiving() as gone:
        url = gone.url
    made = await watched(services, gql, url)
    for _ in range(3):
        check = await services.integration_health.check(WORKER, made.id)
    assert (check.status_after, check.status_code, check.ok) == (DOWN, None, False)
    assert check.error


CHECK = "mutation($id: ID!) { checkIntegration(id: $id) { ok statusCode latencyMs statusAfter } }"


async def test_check_integration_over_graphql(services: Services, gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    made = await gql.data(
        'mutation($t: ID!) { createIntegration(input: {tenantId: $t, name: "n",'
        ' provider: "custom", baseUrl: "https://93.184.216.34"}) { id } }',
        {"t": tenant},
    )
    assert await gql.error_code(CHECK, {"id": made["createIntegration"]["id"]}) == "CONFLICT"


def test_next_status_is_pure_hysteresis() -> None:
    policy = HealthPolicy(down_after=3, up_after=2)
    ok, bad = ProbeResult(True, 200, 1.0), ProbeResult(False, 500, 1.0)
    assert next_status(UNKNOWN, ok, failures=0, successes=1, policy=policy) is HEALTHY
    assert next_status(UNKNOWN, bad, failures=1, successes=0, policy=policy) is DEGRADED
    assert next_status(DOWN, ok, failures=0, successes=1, policy=policy) is DOWN
    assert next_status(DEGRADED, ok, failures=0, successes=2, policy=policy) is HEALTHY
    refused = ProbeResult(False, 403, 1.0)
    assert next_status(DEGRADED, refused, failures=3, successes=0, policy=policy) is AUTH_FAILED


HEALTH = "{ health { status components { name status detail } } }"


async def test_health_lists_the_callers_integrations_without_counting_them(
    services: Services, gql: GraphQL, provider: Receiver
) -> None:
    made = await watched(services, gql, provider.url)
    await statuses(services, made, [500, 500, 500], provider)
    before = await gql.data(HEALTH, token=gql.token(Role.ADMIN, await gql.create_tenant()))
    mine = (await gql.data(HEALTH, token=gql.token(Role.ADMIN, made.tenant_id)))["health"]
    listed = {c["name"]: c for c in mine["components"] if c["name"].startswith("integration:")}
    assert listed["integration:watched"]["status"] == "UNHEALTHY"
    assert listed["integration:watched"]["detail"].startswith("custom down since ")
    assert mine["status"] == before["health"]["status"]  # a provider down is not Tollway down
    others = [c["name"] for c in before["health"]["components"]]
    assert not [n for n in others if n.startswith("integration:")]
