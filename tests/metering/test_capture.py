"""Every request through the middleware, allowed or rejected, becomes one usage event."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from tests.conftest import GraphQL, LiveServer
from tests.enforcement.conftest import CLIENT_IP, Protected
from tests.keyhelpers import create_key
from tollway.enforcement import RouteRule
from tollway.metering.writer import UsageWriter
from tollway.models import UsageEvent


async def stored(
    writer: UsageWriter, key_id: str | None = None, path: str | None = None
) -> list[UsageEvent]:
    await writer.flush()
    query = UsageEvent.all().order_by("id")
    if key_id is not None:
        query = query.filter(key_id=key_id)
    if path is not None:
        query = query.filter(path=path)
    return await query


async def test_allowed_and_rejected_requests_are_captured(
    gql: GraphQL, protected: Protected
) -> None:
    tenant = await gql.create_tenant()
    secret, key = await create_key(gql, tenant, rateLimits=[{"limit": 2, "windowSeconds": 3600}])
    rules = [RouteRule("/reports/{id}", cost=1, name="GET /reports/{id}")]
    async with protected(routes=rules) as (client, middleware):
        headers = {"X-API-Key": secret, "User-Agent": "probe/2"}
        for number in (1, 2, 3):
            await client.get(f"/reports/{number}", headers=headers)
        await client.post("/upload", headers=headers, content=b"x" * 100)
        events = await stored(middleware.runtime.usage, key_id=key["id"])
    assert [(e.path, e.status, e.error_code) for e in events] == [
        ("/reports/1", 200, None),
        ("/reports/2", 200, None),
        ("/reports/3", 429, "RATE_LIMIT_EXCEEDED"),
        ("/upload", 429, "RATE_LIMIT_EXCEEDED"),
    ]
    first, _, rejected, upload = events
    assert first.route == "GET /reports/{id}"  # the template, never the raw path
    assert str(first.tenant_id) == tenant and str(first.key_id) == key["id"]
    assert first.method == "GET" and first.client_ip == CLIENT_IP and first.user_agent == "probe/2"
    assert first.latency_ms > 0 and first.response_bytes > 0 and first.cost_units == 1
    assert rejected.response_bytes > 0  # the problem body
    assert upload.method == "POST" and upload.request_bytes == 100
    assert upload.route == "/{path:path}"  # no rule: the app's route, matched without it


async def test_requests_without_a_valid_key_are_captured(protected: Protected) -> None:
    async with protected() as (client, middleware):
        await client.get("/anonymous-probe")
        await client.get("/anonymous-probe", headers={"X-API-Key": "tw_live_" + "Q" * 32})
        events = await stored(middleware.runtime.usage, path="/anonymous-probe")
    assert [(e.status, e.error_code, e.key_id) for e in events] == [
        (401, "API_KEY_MISSING", None),
        (401, "API_KEY_INVALID", None),
    ]


async def test_the_apps_route_template_is_used(gql: GraphQL, protected: Protected) -> None:
    secret, key = await create_key(gql, await gql.create_tenant())
    async with protected() as (client, middleware):
        await client.get("/orders/991", headers={"X-API-Key": secret})
        (event,) = await stored(middleware.runtime.usage, key_id=key["id"])
    assert event.path == "/orders/991"
    assert event.route == "/{path:path}"  # the downstream Starlette route, bounded


def routed_app() -> Starlette:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    users = [Route("/users/{id:int}", hello)]
    return Starlette(routes=[Route("/hello", hello), Mount("/v1", routes=users)])


async def test_refused_requests_keep_the_apps_route(gql: GraphQL, protected: Protected) -> None:
    secret, key = await create_key(gql, await gql.create_tenant(), rateLimits=[
        {"limit": 1, "windowSeconds": 3600}
    ])  # fmt: skip
    async with protected(app=routed_app(), ip="198.51.100.61") as (client, middleware):
        headers = {"X-API-Key": secret}
        await client.get("/hello", headers=headers)  # admitted
        await client.get("/hello", headers=headers)  # 429
        await client.get("/v1/users/7", headers=headers)  # 429, through the mount
        await client.post("/hello", headers=headers)  # 429, a route for another method
        await client.get("/nowhere", headers=headers)  # 429, no route: a 404 had it passed
        await client.get("/hello")  # 401
        await middleware.runtime.usage.flush()
        events = await UsageEvent.filter(client_ip="198.51.100.61").order_by("id")
    assert [(e.path, e.status, e.route) for e in events] == [
        ("/hello", 200, "/hello"),
        ("/hello", 429, "/hello"),
        ("/v1/users/7", 429, "/users/{id:int}"),
        ("/hello", 429, "/hello"),
        ("/nowhere", 429, "(unmatched)"),
        ("/hello", 401, "/hello"),
    ]
    assert {str(e.key_id) for e in events[:5]} == {key["id"]}


async def test_a_usage_writer_process_stores_the_same_events(
    gql: GraphQL, protected: Protected, server: LiveServer
) -> None:
    secret, key = await create_key(gql, await gql.create_tenant())
    settings = server.settings.model_copy(update={"usage_writer": "process"})
    async with protected(settings=settings) as (client, middleware):
        writer = middleware.runtime.usage
        for number in range(5):
            await client.get(f"/items/{number}", headers={"X-API-Key": secret})
        async with asyncio.timeout(30):  # the child starts in the background
            while writer.process_id is None:  # type: ignore[union-attr]
                await asyncio.sleep(0.05)
        await client.get("/items/5", headers={"X-API-Key": secret})
        events = await stored(writer, key_id=key["id"])  # type: ignore[arg-type]
    assert [e.path for e in events] == [f"/items/{n}" for n in range(6)]
