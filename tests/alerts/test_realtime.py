"""Live alerts, security events and metrics over graphql-transport-ws, across instances."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from tests.clock import until
from tests.conftest import BOOTSTRAP_TOKEN, SECRET_KEY, GraphQL, LiveServer, run_migrate
from tests.keyhelpers import create_key
from tests.processes import serving
from tests.schema.test_websocket import open_raw
from tests.servers import PostgresServer, RedisServer
from tollway.auth.principal import Role
from tollway.auth.tokens import TokenAuthority
from tollway.events import EventBus, SlowSubscriber
from tollway.settings import load_settings

ALERTS = gql(
    "subscription($s: Severity!) { alerts(severityAtLeast: $s) "
    "{ id kind severity status message tenantId openedAt } }"
)


def ws_transport(url: str, token: str) -> WebsocketsTransport:
    return WebsocketsTransport(
        url=url.replace("http://", "ws://") + "/graphql",
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )


async def subscribe(
    url: str, token: str, document: Any, variables: dict[str, Any], into: list[dict[str, Any]]
) -> asyncio.Task[None]:
    ready = asyncio.Event()

    async def run() -> None:
        async with Client(transport=ws_transport(url, token)) as session:
            ready.set()
            async for result in session.subscribe(document, variable_values=variables):
                into.append(result)

    task = asyncio.create_task(run())
    await asyncio.wait_for(ready.wait(), 10)
    await asyncio.sleep(0.5)  # the server registers the subscription after `subscribe`
    return task


async def graphql(url: str, query: str, variables: dict[str, Any], token: str) -> Any:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


async def test_alert_from_traffic_on_one_instance_reaches_subscribers_on_another(
    postgres: PostgresServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    url = postgres.create_database()
    run_migrate(url)
    settings = load_settings(database_url=url, secret_key=SECRET_KEY)
    authority = TokenAuthority(
        SECRET_KEY, settings.jwt_issuer, audience=settings.jwt_audience, bootstrap=None
    )
    common = {
        "database_url": url, "redis_url": redis_server.url, "admin_token": BOOTSTRAP_TOKEN,
        "secret_key": SECRET_KEY, "alert_interval_seconds": "1",
    }  # fmt: skip
    with (
        serving(state_dir=str(tmp_path / "a"), **common) as a,
        serving(state_dir=str(tmp_path / "b"), **common) as b,
    ):
        create = "mutation($n: String!) { createTenant(input: {name: $n}) { tenant { id } } }"
        tenants = [
            (await graphql(a, create, {"n": name}, BOOTSTRAP_TOKEN))["createTenant"]["tenant"]["id"]
            for name in ("rt-a", "rt-b")
        ]
        key = await graphql(
            a,
            """mutation($t: ID!) { createApiKey(input: {tenantId: $t, name: "old"}) {
               secret apiKey { id } } }""",
            {"t": tenants[0]}, BOOTSTRAP_TOKEN,
        )  # fmt: skip
        secret, key_id = key["createApiKey"]["secret"], key["createApiKey"]["apiKey"]["id"]
        await graphql(
            a, "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { status } } }",
            {"id": key_id}, BOOTSTRAP_TOKEN,
        )  # fmt: skip

        def viewer(tenant: str) -> str:
            return authority.issue(Role.VIEWER, tenant, ttl=timedelta(hours=1), subject="viewer")

        seen_a: list[dict[str, Any]] = []
        seen_b: list[dict[str, Any]] = []
        tasks = [
            await subscribe(b, viewer(tenants[0]), ALERTS, {"s": "WARNING"}, seen_a),
            await subscribe(b, viewer(tenants[1]), ALERTS, {"s": "INFO"}, seen_b),
        ]
        try:
            verify = "mutation($k: String!) { verifyApiKey(key: $k) { valid code } }"
            for _ in range(3):  # traffic through instance A: a revoked key still in use
                result = await graphql(a, verify, {"k": secret}, BOOTSTRAP_TOKEN)
                assert result["verifyApiKey"]["code"] == "API_KEY_REVOKED"
            await until(lambda: bool(seen_a), timeout=20)
            alert = seen_a[0]["alerts"]
            assert alert["kind"] == "REVOKED_KEY_USED" and alert["status"] == "OPEN"
            assert alert["tenantId"] == tenants[0]
            await asyncio.sleep(2)
            assert seen_b == []  # tenant B sees nothing of tenant A
            assert len([s for s in seen_a if s["alerts"]["status"] == "OPEN"]) == 1
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_bad_subscription_input_is_refused(gql: GraphQL, server: LiveServer) -> None:
    tenant_a, tenant_b = await gql.create_tenant("sub-a"), await gql.create_tenant("sub-b")
    token = gql.token(Role.VIEWER, tenant_a)
    async with Client(transport=ws_transport(server.base_url, token)) as session:
        bad = gql_doc("subscription { alerts(severityAtLeast: LOUD) { id } }")
        with pytest.raises(TransportQueryError):
            await drain(session.subscribe(bad))
        for document in (
            f'subscription {{ alerts(tenantId: "{tenant_b}") {{ id }} }}',
            f'subscription {{ securityEvents(tenantId: "{tenant_b}") {{ id }} }}',
            f'subscription {{ metrics(tenantId: "{tenant_b}") {{ requests }} }}',
            "subscription { metrics(intervalSeconds: 0) { requests } }",
            "subscription { securityEvents(minRisk: 500) { id } }",
        ):
            with pytest.raises(TransportQueryError) as refused:
                await drain(session.subscribe(gql_doc(document)))
            code = refused.value.errors[0]["extensions"]["code"]  # type: ignore[index]
            assert code in {"FORBIDDEN", "BAD_USER_INPUT"}, document
    ws = await open_raw(server, {"Authorization": "Bearer nope"})
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


def gql_doc(text: str) -> Any:
    return gql(text)


async def drain(results: Any) -> None:
    async for _ in results:
        pass


async def test_a_subscriber_that_never_reads_is_dropped_without_harming_others() -> None:
    bus = EventBus("memory://")
    await bus.connect()
    try:
        slow = bus.subscribe("slow-test", max_pending=10).__aiter__()
        fast = bus.subscribe("slow-test", max_pending=1000).__aiter__()
        first_slow = asyncio.create_task(slow.__anext__())
        first_fast = asyncio.create_task(fast.__anext__())
        await asyncio.sleep(0.05)
        for i in range(50):
            await bus.publish("slow-test", {"n": i})
        assert (await first_slow) == {"n": 0} and (await first_fast) == {"n": 0}
        await asyncio.sleep(0.05)
        received = [await fast.__anext__() for _ in range(49)]
        assert [r["n"] for r in received] == list(range(1, 50))

        async def read_all() -> None:
            for _ in range(50):
                await slow.__anext__()

        with pytest.raises(SlowSubscriber):
            await read_all()
        await slow.aclose()
        await fast.aclose()
    finally:
        await bus.disconnect()


async def test_security_events_stream_live_to_their_tenant(
    gql: GraphQL, server: LiveServer
) -> None:
    tenant = await gql.create_tenant("secstream")
    secret, key = await create_key(gql, tenant)
    await gql.data("mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }",
                   {"id": key["id"]})  # fmt: skip
    seen: list[dict[str, Any]] = []
    document = gql_doc("subscription { securityEvents(minRisk: 50) { reason riskScore keyId } }")
    task = await subscribe(server.base_url, gql.token(Role.VIEWER, tenant), document, {}, seen)
    try:
        verify = "mutation($k: String!) { verifyApiKey(key: $k) { code } }"
        for _ in range(2):
            await gql.data(verify, {"k": secret})
        await until(lambda: len(seen) >= 2, timeout=10)
        assert [e["securityEvents"] for e in seen] == [
            {"reason": "API_KEY_REVOKED", "riskScore": 70, "keyId": key["id"]}
        ] * 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
