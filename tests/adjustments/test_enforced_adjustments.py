"""Limit adjustments through the middleware: starting, ending, on every instance within 1 s."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.clock import ManualClock, until
from tests.conftest import GraphQL
from tests.enforcement.conftest import Protected
from tests.keyhelpers import create_key
from tollway.adjustments.rules import KeyTraits

CREATE = (
    "mutation($i: CreateLimitAdjustmentInput!) { createLimitAdjustment(input: $i) { id status } }"
)
END = "mutation($id: ID!) { endLimitAdjustment(id: $id) { status } }"


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def adjust(gql: GraphQL, **fields: Any) -> str:
    body = {"reason": "test", "endsAt": at(3600), **fields}
    data = await gql.data(CREATE, {"i": body})
    adjustment_id: str = data["createLimitAdjustment"]["id"]
    return adjustment_id


async def limit_seen(client: httpx.AsyncClient, secret: str) -> str:
    response = await client.get("/x", headers={"X-API-Key": secret})
    return response.headers.get("x-ratelimit-limit", str(response.status_code))


async def wait_for_limit(client: httpx.AsyncClient, secret: str, expected: str) -> float:
    """Seconds until the instance answers with `expected` as its limit (fails after 1 s)."""
    started = time.monotonic()
    while (seen := await limit_seen(client, secret)) != expected:
        assert time.monotonic() - started < 1.0, f"limit still {seen}, wanted {expected}"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_boost_raises_and_ending_restores(gql: GraphQL, protected: Protected) -> None:
    secret, key = await create_key(
        gql, await gql.create_tenant(), rateLimits=[{"limit": 3, "windowSeconds": 3600}]
    )
    async with protected() as (client, _):
        statuses = [
            (await client.get("/x", headers={"X-API-Key": secret})).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        boost = await adjust(gql, kind="BOOST", scope="KEY", apiKeyId=key["id"], multiplier=2.0)
        await wait_for_limit(client, secret, "6")  # the check that sees 6 is admitted (4th)
        statuses = [
            (await client.get("/x", headers={"X-API-Key": secret})).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 429]  # 6 admitted in all: counts carried over
        await gql.data(END, {"id": boost})
        await wait_for_limit(client, secret, "3")
        assert (await client.get("/x", headers={"X-API-Key": secret})).status_code == 429


async def test_scheduled_adjustment_starts_and_expires_by_itself(
    gql: GraphQL, protected: Protected, clock: ManualClock
) -> None:
    tenant = await gql.create_tenant()
    secret, _ = await create_key(gql, tenant, rateLimits=[{"limit": 1000, "windowSeconds": 3600}])
    async with protected() as (client, middleware):
        assert await limit_seen(client, secret) == "1000"
        await adjust(
            gql, kind="THROTTLE", scope="TENANT", tenantId=tenant, multiplier=0.25,
            startsAt=at(1.0), endsAt=at(2.5),
        )  # fmt: skip
        soon = KeyTraits(None, tenant, None)

        async def loaded() -> bool:
            return bool(middleware.runtime.adjustments.in_force(soon, clock.millis() + 1500))

        await until(loaded)
        assert await limit_seen(client, secret) == "1000"  # loaded, not yet started
        await clock.advance(1.0)
        assert await limit_seen(client, secret) == "250"
        await clock.advance(1.5)
        assert await limit_seen(client, secret) == "1000"  # expired, nobody ended it


async def test_throttle_spares_exempt_keys_and_override_is_absolute(
    gql: GraphQL, protected: Protected
) -> None:
    tenant = await gql.create_tenant()
    windows = [{"limit": 100, "windowSeconds": 3600}]
    normal, _ = await create_key(gql, tenant, rateLimits=windows)
    priority, priority_key = await create_key(gql, tenant, rateLimits=windows)
    abuser, abuser_key = await create_key(gql, tenant, rateLimits=windows)
    async with protected() as (client, _):
        await adjust(
            gql, kind="THROTTLE", scope="TENANT", tenantId=tenant, multiplier=0.1,
            exemptApiKeyIds=[priority_key["id"]],
        )  # fmt: skip
        await wait_for_limit(client, normal, "10")
        assert await limit_seen(client, priority) == "100"
        await adjust(
            gql, kind="OVERRIDE", scope="KEY", apiKeyId=abuser_key["id"],
            overrideLimit={"limit": 2, "windowSeconds": 60},
        )  # fmt: skip
        await wait_for_limit(client, abuser, "2")  # the first request under the override
        statuses = [
            (await client.get("/x", headers={"X-API-Key": abuser})).status_code for _ in range(2)
        ]
        assert statuses == [200, 429]


async def test_adjustment_reaches_every_instance_within_a_second(
    gql: GraphQL, protected: Protected
) -> None:
    tenant = await gql.create_tenant()
    secret, _ = await create_key(gql, tenant, rateLimits=[{"limit": 50, "windowSeconds": 3600}])
    async with protected() as (one, _), protected() as (two, _):
        for client in (one, two):
            assert await limit_seen(client, secret) == "50"
        await adjust(gql, kind="BOOST", scope="PLAN", plan="FREE", tenantId=tenant, multiplier=4.0)
        for client in (one, two):
            await wait_for_limit(client, secret, "200")
