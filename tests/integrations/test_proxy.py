"""The HTTP proxy route: a Tollway key with the `integrations:proxy` scope calls a real local
provider, which receives the integration's credential and never the caller's key; the caller
never sees the credential; refusals are coded problems."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.clock import until
from tests.conftest import GraphQL, LiveServer
from tests.keyhelpers import create_key
from tests.webhooks.receiver import Receiver, Reply, receiving

TOKEN = "provider-token-0123456789"
CREATE = """mutation($i: CreateIntegrationInput!) { createIntegration(input: $i) { id } }"""


@pytest.fixture
async def provider() -> AsyncIterator[Receiver]:
    async with receiving() as receiver:
        yield receiver


async def integration(gql: GraphQL, tenant: str, url: str, **fields: Any) -> str:
    given = {
        "tenantId": tenant, "name": "billing", "provider": "custom", "baseUrl": url,
        "credentials": {"type": "BEARER", "values": {"token": TOKEN}}, **fields,
    }  # fmt: skip
    return str((await gql.data(CREATE, {"i": given}))["createIntegration"]["id"])


async def test_a_scoped_key_calls_the_provider_with_the_injected_credential(
    proxy_server: LiveServer, pgql: GraphQL, provider: Receiver
) -> None:
    tenant = await pgql.create_tenant()
    provider.default = Reply(201, {"x-provider": "yes"}, '{"id": "ch_1"}')
    made = await integration(pgql, tenant, provider.url + "/v1")
    secret, _ = await create_key(pgql, tenant, scopes=["integrations:proxy"])
    async with httpx.AsyncClient(base_url=proxy_server.base_url) as http:
        answer = await http.post(
            f"/integrations/{made}/proxy/charges?expand=customer",
            headers={"X-API-Key": secret, "X-Request-Id": "r-1"},
            content=b'{"amount": 100}',
        )
    assert (answer.status_code, answer.text) == (201, '{"id": "ch_1"}')
    assert answer.headers["x-provider"] == "yes"
    assert TOKEN not in str(answer.headers) and TOKEN not in answer.text
    [arrived] = provider.received
    assert (arrived.method, arrived.path, arrived.query) == (
        "POST",
        "/v1/charges",
        "expand=customer",
    )
    assert arrived.headers["authorization"] == f"Bearer {TOKEN}"
    assert arrived.headers["x-request-id"] == "r-1" and arrived.body == b'{"amount": 100}'
    assert "x-api-key" not in arrived.headers and secret not in str(arrived.headers)

    logs = """query($t: ID) { requestLogs(tenantId: $t) { edges { node {
      service status route } } } }"""

    async def logged() -> list[dict[str, Any]]:
        data = await pgql.data(logs, {"t": tenant})
        return [e["node"] for e in data["requestLogs"]["edges"]]

    await until(logged, timeout=15)  # the usage writer stores it in the background
    assert await logged() == [
        {"service": f"integration:{made}", "status": 201,
         "route": "/integrations/{integration_id}/proxy/{path:path}"},
    ]  # fmt: skip


async def test_refusals_are_coded_problems(
    proxy_server: LiveServer, pgql: GraphQL, provider: Receiver
) -> None:
    tenant, other = await pgql.create_tenant(), await pgql.create_tenant()
    made = await integration(pgql, tenant, provider.url)
    theirs = await integration(pgql, other, provider.url)
    scoped, _ = await create_key(pgql, tenant, scopes=["integrations:proxy"])
    unscoped, _ = await create_key(pgql, tenant, scopes=["billing:read"])

    async def code(path: str, key: str | None) -> tuple[int, str]:
        headers = {"X-API-Key": key} if key else {}
        async with httpx.AsyncClient(base_url=proxy_server.base_url) as http:
            answer = await http.get(path, headers=headers)
        return answer.status_code, answer.json()["error_code"]

    assert await code(f"/integrations/{made}/proxy/x", None) == (401, "API_KEY_MISSING")
    assert await code(f"/integrations/{made}/proxy/x", unscoped) == (403, "PERMISSION_DENIED")
    assert await code(f"/integrations/{theirs}/proxy/x", scoped) == (404, "INTEGRATION_NOT_FOUND")
    assert await code("/integrations/not-a-uuid/proxy/x", scoped) == (404, "INTEGRATION_NOT_FOUND")
    await pgql.data(
        "mutation($id: ID!) { updateIntegration(id: $id, input: {enabled: false}) { id } }",
        {"id": made},
    )
    assert await code(f"/integrations/{made}/proxy/x", scoped) == (409, "INTEGRATION_UNAVAILABLE")
    assert provider.received == []


async def test_a_provider_that_is_down_is_a_502(proxy_server: LiveServer, pgql: GraphQL) -> None:
    tenant = await pgql.create_tenant()
    async with receiving() as gone:
        url = gone.url
    made = await integration(pgql, tenant, url)  # nothing listens there any more
    scoped, _ = await create_key(pgql, tenant, scopes=["integrations:*"])
    async with httpx.AsyncClient(base_url=proxy_server.base_url) as http:
        answer = await http.get(f"/integrations/{made}/proxy/health", headers={"X-API-Key": scoped})
    assert (answer.status_code, answer.json()["error_code"]) == (502, "UPSTREAM_UNAVAILABLE")


async def test_a_failing_provider_opens_the_breaker_and_calls_fail_fast(
    proxy_server: LiveServer, pgql: GraphQL, provider: Receiver
) -> None:
    tenant = await pgql.create_tenant()
    provider.default = Reply(500, body="down")
    made = await integration(pgql, tenant, provider.url)
    scoped, _ = await create_key(pgql, tenant, scopes=["integrations:proxy"])
    async with httpx.AsyncClient(base_url=proxy_server.base_url) as http:
        statuses = [
            (await http.get(f"/integrations/{made}/proxy/x", headers={"X-API-Key": scoped}))
            for _ in range(7)
        ]
    assert [a.status_code for a in statuses] == [500] * 5 + [503] * 2
    assert statuses[-1].json()["error_code"] == "CIRCUIT_OPEN"
    assert 1 <= int(statuses[-1].headers["retry-after"]) <= 5
    assert len(provider.received) == 5  # refused calls never reach the provider
    query = "query($id: ID!) { integration(id: $id) { breaker { status consecutiveFailures openUntil } } }"
    breaker = (await pgql.data(query, {"id": made}))["integration"]["breaker"]
    assert (breaker["status"], breaker["consecutiveFailures"]) == ("OPEN", 5)
    assert breaker["openUntil"] is not None


async def test_an_oauth2_integration_without_tokens_is_a_coded_503(
    proxy_server: LiveServer, pgql: GraphQL, provider: Receiver
) -> None:
    tenant = await pgql.create_tenant()
    values = {
        "client_id": "c", "authorize_url": provider.url + "/authorize",
        "token_url": provider.url + "/token",
    }  # fmt: skip
    made = await integration(
        pgql, tenant, provider.url,
        credentials={"type": "OAUTH2_AUTHORIZATION_CODE", "values": values},
    )  # fmt: skip
    scoped, _ = await create_key(pgql, tenant, scopes=["integrations:proxy"])
    async with httpx.AsyncClient(base_url=proxy_server.base_url) as http:
        answer = await http.get(f"/integrations/{made}/proxy/x", headers={"X-API-Key": scoped})
    assert answer.status_code == 503
    assert answer.json()["error_code"] == "INTEGRATION_AUTH_FAILED"
    assert "not authorized yet" in answer.json()["detail"]
    assert provider.received == []  # nothing reached the provider without a token
