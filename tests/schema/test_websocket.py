"""GraphQL subscriptions over graphql-transport-ws, with a real websocket client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

from tests.clock import until
from tests.conftest import BOOTSTRAP_TOKEN, GraphQL, LiveServer
from tollway.auth.principal import Role

AUDIT_EVENTS = gql(
    "subscription($t: ID) { auditEvents(tenantId: $t) { action targetId tenantId actor } }"
)


def transport(server: LiveServer, token: str) -> WebsocketsTransport:
    return WebsocketsTransport(
        url=server.ws_url,
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )


async def collect(
    server: LiveServer,
    token: str,
    into: list[dict[str, Any]],
    ready: asyncio.Event,
    **variables: Any,
) -> None:
    async with Client(transport=transport(server, token)) as session:
        ready.set()
        async for result in session.subscribe(AUDIT_EVENTS, variable_values=variables):
            into.append(result["auditEvents"])


async def start_subscriber(
    server: LiveServer, token: str, **variables: Any
) -> tuple[asyncio.Task[None], list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []
    ready = asyncio.Event()
    task = asyncio.create_task(collect(server, token, received, ready, **variables))
    await asyncio.wait_for(ready.wait(), 5)
    await asyncio.sleep(0.3)  # the subscription is registered once the server has the start message
    return task, received


async def test_subscriber_receives_audit_events_of_its_tenant_only(
    gql: GraphQL, server: LiveServer
) -> None:
    tenant_a, tenant_b = await gql.create_tenant("ws-a"), await gql.create_tenant("ws-b")
    task_a, seen_by_a = await start_subscriber(server, gql.token(Role.ADMIN, tenant_a))
    task_super, seen_by_super = await start_subscriber(server, BOOTSTRAP_TOKEN)
    try:
        rename = "mutation($id: ID!, $n: String!) { updateTenant(id: $id, input: {name: $n}) { tenant { id } } }"
        await gql.data(rename, {"id": tenant_b, "n": f"renamed-b-{tenant_b[:6]}"})
        await gql.data(rename, {"id": tenant_a, "n": f"renamed-a-{tenant_a[:6]}"})
        await until(lambda: any(e["targetId"] == tenant_a for e in seen_by_a))
        await until(lambda: {tenant_a, tenant_b} <= {e["targetId"] for e in seen_by_super})
        assert all(e["tenantId"] == tenant_a for e in seen_by_a)
        assert seen_by_a[0]["action"] == "tenant.update"
    finally:
        task_a.cancel()
        task_super.cancel()
        await asyncio.gather(task_a, task_super, return_exceptions=True)


async def open_raw(server: LiveServer, payload: Any) -> websockets.ClientConnection:
    ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong"),
        pytest.param({"Authorization": 42}, id="not-a-string"),
    ],
)
async def test_bad_token_closes_with_4403(server: LiveServer, payload: Any) -> None:
    ws = await open_raw(server, payload)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_only_graphql_transport_ws_is_spoken(server: LiveServer) -> None:
    ws = await websockets.connect(server.ws_url, subprotocols=["graphql-ws"])
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406


async def test_viewer_of_a_cannot_subscribe_to_tenant_b(gql: GraphQL, server: LiveServer) -> None:
    tenant_a, tenant_b = await gql.create_tenant("wsv-a"), await gql.create_tenant("wsv-b")
    ws = await open_raw(server, {"Authorization": f"Bearer {gql.token(Role.VIEWER, tenant_a)}"})
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": "subscription($t: ID) { auditEvents(tenantId: $t) { id } }",
                    "variables": {"t": tenant_b},
                },
            }
        )
    )
    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert message["type"] in {"error", "next"}
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    # The connection stays usable for the subscriber's own tenant.
    await ws.send(
        json.dumps(
            {
                "id": "2",
                "type": "subscribe",
                "payload": {"query": "subscription { auditEvents { id } }"},
            }
        )
    )
    await ws.send(json.dumps({"type": "ping"}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] in {"pong", "complete"}
    await ws.close()


async def test_operations_past_the_cap_get_a_coded_error(server: LiveServer) -> None:
    cap = server.settings.graphql_max_subscriptions_per_connection
    ws = await open_raw(server, {"Authorization": f"Bearer {BOOTSTRAP_TOKEN}"})
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    subscribe = {"type": "subscribe", "payload": {"query": "subscription { auditEvents { id } }"}}
    for index in range(cap + 1):
        await ws.send(json.dumps({**subscribe, "id": str(index)}))
    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert (message["type"], message["id"]) == ("error", str(cap))
    assert message["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "TOLLWAY_GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION" in message["payload"][0]["message"]
    await ws.close()
