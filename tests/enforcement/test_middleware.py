"""EnforcementMiddleware end to end: every error code and header of CONTRACT.md."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.clock import ManualClock, until
from tests.conftest import GraphQL, LiveServer
from tests.enforcement.conftest import Protected, downstream
from tests.keyhelpers import create_key
from tollway.enforcement import EnforcementMiddleware, RouteRule
from tollway.models import SecurityEvent
from tollway.ratelimit import Window

POLICY = re.compile(r'^"[\w-]+";q=\d+(;w=\d+)?(, "[\w:/*{}.-]+";q=\d+(;w=\d+)?)*$')
STATE = re.compile(r'^"[\w-]+";r=\d+(;t=\d+)?(, "[\w:/*{}.-]+";r=\d+(;t=\d+)?)*$')


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["error_code"] == code
    assert body["type"].startswith("urn:tollway:problem:")
    assert body["title"] and body["detail"]


async def test_missing_and_invalid_keys(gql: GraphQL, protected: Protected) -> None:
    async with protected() as (client, _):
        assert_problem(await client.get("/x"), 401, "API_KEY_MISSING")
        assert_problem(await client.get("/x", headers={"X-API-Key": ""}), 401, "API_KEY_MISSING")
        assert_problem(
            await client.get("/x", headers={"X-API-Key": "tw_live_" + "a" * 32}),
            401,
            "API_KEY_INVALID",
        )
        assert_problem(
            await client.get("/x", headers={"X-API-Key": "sk_live_abc"}), 401, "API_KEY_INVALID"
        )
        assert_problem(
            await client.get("/x", headers={"X-API-Key": "tw_live_" + "x" * 10_000}),
            401,
            "API_KEY_INVALID",
        )
        assert_problem(
            await client.get("/x", headers={"X-API-Key": "tw_live_ünïcødé".encode()}),
            401,
            "API_KEY_INVALID",
        )
        assert_problem(
            await client.get("/x", headers={"Authorization": "Basic Zm9vOmJhcg=="}),
            401,
            "API_KEY_MISSING",
        )


async def test_valid_key_reaches_the_app_with_headers(gql: GraphQL, protected: Protected) -> None:
    tenant = await gql.create_tenant()
    secret, key = await create_key(
        gql, tenant, rateLimits=[{"limit": 100, "windowSeconds": 60}, {"limit": 10, "windowSeconds": 1}],
        quota={"limit": 1000, "period": "DAY"},
    )  # fmt: skip
    async with protected() as (client, _):
        for headers in ({"X-API-Key": secret}, {"Authorization": f"Bearer {secret}"}):
            response = await client.get("/reports/1", headers=headers)
            assert response.status_code == 200
            assert response.json() == {"key": key["id"], "path": "/reports/1"}
        h = response.headers
        assert h["x-ratelimit-limit"] == "10"
        assert h["x-ratelimit-remaining"] == "8"
        assert int(h["x-ratelimit-reset"]) >= int(time.time())
        assert POLICY.match(h["ratelimit-policy"]), h["ratelimit-policy"]
        assert STATE.match(h["ratelimit"]), h["ratelimit"]
        assert '"60s";q=100;w=60' in h["ratelimit-policy"]
        assert '"quota-day";q=1000;w=86400' in h["ratelimit-policy"]
        assert '"60s";r=98;t=' in h["ratelimit"]
        assert '"quota-day";r=998;t=' in h["ratelimit"]


async def test_rate_limit_exceeded_has_retry_after(gql: GraphQL, protected: Protected) -> None:
    secret, _ = await create_key(
        gql, await gql.create_tenant(), rateLimits=[{"limit": 3, "windowSeconds": 60}]
    )
    async with protected() as (client, _):
        statuses = [
            (await client.get("/x", headers={"X-API-Key": secret})).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 200]
        denied = await client.get("/x", headers={"X-API-Key": secret})
        assert_problem(denied, 429, "RATE_LIMIT_EXCEEDED")
        assert int(denied.headers["retry-after"]) >= 1
        assert denied.headers["x-ratelimit-remaining"] == "0"


async def test_quota_exceeded_and_rejections_consume_nothing(
    gql: GraphQL, protected: Protected
) -> None:
    secret, _ = await create_key(
        gql, await gql.create_tenant(), rateLimits=[{"limit": 1, "windowSeconds": 3600}],
        quota={"limit": 5, "period": "MONTH"},
    )  # fmt: skip
    other, _ = await create_key(
        gql, await gql.create_tenant(), rateLimits=[{"limit": 100, "windowSeconds": 60}],
        quota={"limit": 2, "period": "DAY"},
    )  # fmt: skip
    async with protected() as (client, _):
        assert (await client.get("/x", headers={"X-API-Key": secret})).status_code == 200
        for _ in range(3):
            assert_problem(
                await client.get("/x", headers={"X-API-Key": secret}), 429, "RATE_LIMIT_EXCEEDED"
            )
        last = await client.get("/x", headers={"X-API-Key": secret})
        assert '"quota-month";r=4' in last.headers["ratelimit"]  # 3 rejections consumed nothing
        assert [
            (await client.get("/x", headers={"X-API-Key": other})).status_code for _ in range(2)
        ] == [200, 200]
        denied = await client.get("/x", headers={"X-API-Key": other})
        assert_problem(denied, 429, "QUOTA_EXCEEDED")
        assert int(denied.headers["retry-after"]) >= 1


async def test_ip_and_origin_policies(gql: GraphQL, protected: Protected) -> None:
    secret, key = await create_key(
        gql, await gql.create_tenant(), allowedIps=["10.0.0.0/8", "2001:db8::/32"],
        allowedOrigins=["https://app.example"],
    )  # fmt: skip
    async with protected(ip="203.0.113.7") as (client, middleware):
        assert_problem(await client.get("/x", headers={"X-API-Key": secret}), 403, "IP_NOT_ALLOWED")
        await middleware.runtime.activity.flush()
    # The security event names the key tried from the foreign network.
    (event,) = await SecurityEvent.filter(key_id=key["id"], reason="IP_NOT_ALLOWED")
    assert event.client_ip == "203.0.113.7" and event.key_prefix == key["prefix"]
    async with protected(ip="10.1.2.3") as (client, _):
        assert (await client.get("/x", headers={"X-API-Key": secret})).status_code == 200
        ok = await client.get("/x", headers={"X-API-Key": secret, "Origin": "HTTPS://APP.EXAMPLE"})
        assert ok.status_code == 200
        bad = await client.get(
            "/x", headers={"X-API-Key": secret, "Origin": "https://evil.example"}
        )
        assert_problem(bad, 403, "ORIGIN_NOT_ALLOWED")
    async with protected(ip="2001:db8::5") as (client, _):
        assert (await client.get("/x", headers={"X-API-Key": secret})).status_code == 200


async def test_trusted_proxy_forwarded_for(
    gql: GraphQL, protected: Protected, server: object
) -> None:
    secret, _ = await create_key(gql, await gql.create_tenant(), allowedIps=["198.51.100.0/24"])
    settings = server.settings.model_copy(update={"trusted_proxies": ("127.0.0.0/8",)})  # type: ignore[attr-defined]
    forwarded = {"X-API-Key": secret, "X-Forwarded-For": "198.51.100.9, 127.0.0.2"}
    async with protected(ip="127.0.0.1", settings=settings) as (client, _):
        assert (await client.get("/x", headers=forwarded)).status_code == 200
    async with protected(ip="203.0.113.9", settings=settings) as (
        client,
        _,
    ):  # untrusted peer: header ignored
        assert_problem(await client.get("/x", headers=forwarded), 403, "IP_NOT_ALLOWED")


async def test_scopes_cost_and_route_windows(gql: GraphQL, protected: Protected) -> None:
    tenant = await gql.create_tenant()
    reader, _ = await create_key(
        gql, tenant, scopes=["reports:*"], rateLimits=[{"limit": 100, "windowSeconds": 60}]
    )
    billing, _ = await create_key(gql, tenant, scopes=["billing:read"])
    routes = [
        RouteRule("/reports/**", scopes=("reports:read",)),
        RouteRule(
            "/exports/{id}", methods=frozenset({"POST"}), scopes=("reports:export",), cost=40
        ),
        RouteRule("/search", windows=(Window(2, 60),)),
    ]
    async with protected(routes=routes) as (client, _):
        assert (
            await client.get("/reports/7/pages", headers={"X-API-Key": reader})
        ).status_code == 200
        assert_problem(
            await client.get("/reports/7", headers={"X-API-Key": billing}), 403, "PERMISSION_DENIED"
        )
        costs = [
            (await client.post("/exports/1", headers={"X-API-Key": reader})).status_code
            for _ in range(3)
        ]
        assert costs == [200, 200, 429]  # 40 + 40 of 100, the third would make 120
        searches = [
            (await client.get("/search", headers={"X-API-Key": reader})).status_code
            for _ in range(3)
        ]
        assert searches == [200, 200, 429]
        assert (await client.get("/other", headers={"X-API-Key": reader})).status_code == 200


async def test_public_routes_are_limited_per_client_ip(gql: GraphQL, protected: Protected) -> None:
    routes = [RouteRule("/status", public=True, windows=(Window(2, 60),))]
    async with protected(routes=routes, ip="192.0.2.10") as (client, _):
        assert [(await client.get("/status")).status_code for _ in range(3)] == [200, 200, 429]
        assert (await client.get("/private")).status_code == 401
    async with protected(routes=routes, ip="192.0.2.11") as (client, _):
        assert (await client.get("/status")).status_code == 200


async def answers(client: httpx.AsyncClient, secret: str, status: int) -> bool:
    """Whether a request with `secret` is answered with `status`."""
    return (await client.get("/x", headers={"X-API-Key": secret})).status_code == status


async def test_revoked_disabled_and_expired_keys(
    gql: GraphQL, protected: Protected, clock: ManualClock
) -> None:
    tenant = await gql.create_tenant()
    revoked, key_r = await create_key(gql, tenant)
    disabled, key_d = await create_key(gql, tenant)
    expiring, _ = await create_key(
        gql, tenant, expiresAt=(datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    )
    async with protected() as (client, _):
        for secret in (revoked, disabled, expiring):
            assert (await client.get("/x", headers={"X-API-Key": secret})).status_code == 200
        await gql.data(
            "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }", {"id": key_r["id"]}
        )
        await gql.data(
            "mutation($id: ID!) { updateApiKey(id: $id, input: {status: DISABLED}) { apiKey { id } } }",
            {"id": key_d["id"]},
        )
        await clock.advance(1.1)
        await until(lambda: answers(client, revoked, 401))
        await until(lambda: answers(client, disabled, 401))
        assert_problem(
            await client.get("/x", headers={"X-API-Key": revoked}), 401, "API_KEY_REVOKED"
        )
        assert_problem(
            await client.get("/x", headers={"X-API-Key": disabled}), 401, "API_KEY_INVALID"
        )
        assert_problem(
            await client.get("/x", headers={"X-API-Key": expiring}), 401, "API_KEY_EXPIRED"
        )


async def test_rotation_grace_period(
    gql: GraphQL, protected: Protected, clock: ManualClock
) -> None:
    tenant = await gql.create_tenant()
    old, key = await create_key(gql, tenant)
    instant_old, instant_key = await create_key(gql, tenant)
    rotate = (
        "mutation($id: ID!, $g: Int!) { rotateApiKey(id: $id, gracePeriodSeconds: $g) { secret } }"
    )
    async with protected() as (client, _):
        assert (await client.get("/x", headers={"X-API-Key": old})).status_code == 200
        new = (await gql.data(rotate, {"id": key["id"], "g": 2}))["rotateApiKey"]["secret"]
        new_instant = (await gql.data(rotate, {"id": instant_key["id"], "g": 0}))["rotateApiKey"][
            "secret"
        ]
        await until(
            lambda: answers(client, instant_old, 401)
        )  # the old secret of an instant rotation is dropped as soon as it is announced
        assert (await client.get("/x", headers={"X-API-Key": old})).status_code == 200
        assert (await client.get("/x", headers={"X-API-Key": new})).json()["key"] == key["id"]
        assert_problem(
            await client.get("/x", headers={"X-API-Key": instant_old}), 401, "API_KEY_INVALID"
        )
        assert (await client.get("/x", headers={"X-API-Key": new_instant})).status_code == 200
        await clock.advance(2)
        assert_problem(await client.get("/x", headers={"X-API-Key": old}), 401, "API_KEY_INVALID")
        assert (await client.get("/x", headers={"X-API-Key": new})).status_code == 200


async def test_revocation_reaches_every_instance_within_a_second(
    gql: GraphQL, protected: Protected
) -> None:
    secret, key = await create_key(gql, await gql.create_tenant())
    async with protected() as (one, _), protected() as (two, _):
        for client in (one, two):  # both caches hold the key
            assert (await client.get("/x", headers={"X-API-Key": secret})).status_code == 200
        await gql.data(
            "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }", {"id": key["id"]}
        )
        revoked_at = time.monotonic()
        for client in (one, two):
            while (await client.get("/x", headers={"X-API-Key": secret})).status_code != 401:
                assert time.monotonic() - revoked_at < 1.0, "revocation took over 1 s"
                await asyncio.sleep(0.02)


@pytest.mark.parametrize("algorithm", ["SLIDING_WINDOW", "TOKEN_BUCKET", "FIXED_WINDOW"])
async def test_two_instances_and_200_clients_admit_exactly_n(
    gql: GraphQL, protected: Protected, server: object, algorithm: str
) -> None:
    shared = server.settings.redis_url is not None  # type: ignore[attr-defined]
    limit = 37
    secret, _ = await create_key(
        gql, await gql.create_tenant(),
        rateLimits=[{"limit": limit, "windowSeconds": 3600, "algorithm": algorithm}],
        quota={"limit": 30 if algorithm == "FIXED_WINDOW" else 1000, "period": "DAY"},
    )  # fmt: skip
    expected = 30 if algorithm == "FIXED_WINDOW" else limit
    async with protected() as (one, _), protected() as (two, _):
        clients = [one, two] if shared else [one]  # memory counters are per instance by design
        requests = [
            clients[i % len(clients)].get("/x", headers={"X-API-Key": secret}) for i in range(200)
        ]
        responses = await asyncio.gather(*requests)
    assert sum(r.status_code == 200 for r in responses) == expected
    assert {r.status_code for r in responses} == {200, 429}


async def test_activity_is_recorded(gql: GraphQL, protected: Protected) -> None:
    tenant = await gql.create_tenant()
    secret, key = await create_key(gql, tenant, allowedIps=["10.0.0.0/8"])
    async with protected(ip="10.9.9.9") as (client, middleware):
        for _ in range(3):
            assert (await client.get("/x", headers={"X-API-Key": secret})).status_code == 200
        await client.get(
            "/x", headers={"X-API-Key": "tw_live_" + "Z" * 32, "User-Agent": "probe/1"}
        )
        await middleware.runtime.activity.flush()
    data = await gql.data(
        "query($id: ID!) { apiKey(id: $id) { totalRequests lastUsedAt } }", {"id": key["id"]}
    )
    assert data["apiKey"]["totalRequests"] == 3
    assert data["apiKey"]["lastUsedAt"] is not None
    events = await SecurityEvent.filter(client_ip="10.9.9.9", reason="API_KEY_INVALID")
    assert events and events[0].user_agent == "probe/1"
    assert events[0].key_prefix == "tw_live_ZZZZ"  # what a key's prefix shows, never more


async def test_other_scopes_pass_through_untouched(server: object) -> None:
    seen: list[str] = []

    async def app(scope: dict, receive: object, send: object) -> None:
        seen.append(scope["type"])

    middleware = EnforcementMiddleware(app, settings=server.settings)  # type: ignore[attr-defined]
    await middleware({"type": "websocket", "path": "/ws", "headers": []}, None, None)
    await middleware({"type": "lifespan"}, None, None)
    assert seen == ["websocket", "lifespan"]
    assert not middleware.runtime.started


async def test_verify_api_key_mutation(gql: GraphQL) -> None:
    from tollway.auth.principal import Role

    tenant, other = await gql.create_tenant(), await gql.create_tenant()
    secret, key = await create_key(
        gql, tenant, scopes=["reports:read"], rateLimits=[{"limit": 2, "windowSeconds": 60}]
    )
    verify = """mutation($k: String!, $r: String) { verifyApiKey(key: $k, route: $r) {
        valid code keyId tenantId scopes remaining retryAfterSeconds limits { name limit remaining resetAt } } }"""
    service = gql.token(Role.SERVICE, tenant)
    first = (await gql.data(verify, {"k": secret, "r": "GET /reports/1"}, token=service))[
        "verifyApiKey"
    ]
    assert first["valid"] and first["keyId"] == key["id"] and first["remaining"] == 1
    assert first["limits"][0]["name"] == "60s"
    await gql.data(verify, {"k": secret}, token=service)
    third = (await gql.data(verify, {"k": secret}, token=service))["verifyApiKey"]
    assert third == {**third, "valid": False, "code": "RATE_LIMIT_EXCEEDED"}
    assert third["retryAfterSeconds"] >= 1
    foreign = (await gql.data(verify, {"k": secret}, token=gql.token(Role.SERVICE, other)))[
        "verifyApiKey"
    ]
    assert (
        foreign["valid"] is False
        and foreign["code"] == "API_KEY_INVALID"
        and foreign["keyId"] is None
    )
    viewer = gql.token(Role.VIEWER, tenant)
    assert await gql.error_code(verify, {"k": secret}, token=viewer) == "FORBIDDEN"
    bad = (await gql.data(verify, {"k": "nonsense"}))["verifyApiKey"]
    assert bad["code"] == "API_KEY_INVALID"


async def test_verify_api_key_without_a_client_address(gql: GraphQL) -> None:
    """Only a key with an IP allow-list needs `clientIp`; the refusal says what is missing."""
    tenant = await gql.create_tenant()
    listed, _ = await create_key(gql, tenant, allowedIps=["10.0.0.0/8"])
    open_key, _ = await create_key(gql, tenant, allowedOrigins=["https://app.example"])
    verify = """mutation($k: String!, $o: String, $ip: String) {
        verifyApiKey(key: $k, origin: $o, clientIp: $ip) { valid code detail } }"""
    origin = "https://app.example"
    free = (await gql.data(verify, {"k": open_key, "o": origin}))["verifyApiKey"]
    assert free == {"valid": True, "code": None, "detail": None}
    missing = (await gql.data(verify, {"k": listed, "o": origin}))["verifyApiKey"]
    assert missing["code"] == "IP_NOT_ALLOWED"
    assert "None" not in missing["detail"] and "clientIp" in missing["detail"]
    given = (await gql.data(verify, {"k": listed, "ip": "10.9.8.7"}))["verifyApiKey"]
    assert given["valid"]


async def test_the_runtime_starts_and_stops_with_the_apps_lifespan(server: LiveServer) -> None:
    middleware = EnforcementMiddleware(downstream(), settings=server.settings)
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await incoming.put({"type": "lifespan.startup"})
    seen: list[tuple[str, bool]] = []

    async def receive() -> dict[str, Any]:
        return await incoming.get()

    async def send(message: Any) -> None:
        seen.append((message["type"], middleware.runtime.started))
        if message["type"] == "lifespan.startup.complete":
            await incoming.put({"type": "lifespan.shutdown"})

    await middleware({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert seen == [("lifespan.startup.complete", True), ("lifespan.shutdown.complete", False)]
