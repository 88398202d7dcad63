"""End to end: a quota charged exactly what it admitted, read as integrators read it (the
RateLimit header and verifyApiKey), with units leased ahead on Redis and on memory."""

from __future__ import annotations

import asyncio
import re

import httpx

from tests.clock import ManualClock
from tests.conftest import GraphQL, LiveServer
from tests.enforcement.conftest import Protected
from tests.keyhelpers import create_key
from tollway.ratelimit.reservation import LEASE_GRACE_MS, RESERVATION_MS

QUIET_SECONDS = (RESERVATION_MS + LEASE_GRACE_MS / 4) / 1000  # longer than a lease lasts
LIMIT = 100_000
VERIFY = "mutation($k: String!) { verifyApiKey(key: $k) { valid remaining } }"


def quota_left(response: httpx.Response) -> int:
    match = re.search(r'"quota-month";r=(\d+)', response.headers["ratelimit"])
    assert match, response.headers["ratelimit"]
    return int(match.group(1))


async def test_a_quiet_key_and_a_burst_are_charged_exactly_what_they_admitted(
    gql: GraphQL, protected: Protected, server: LiveServer, clock: ManualClock
) -> None:
    secret, _ = await create_key(
        gql, await gql.create_tenant(), rateLimits=[{"limit": LIMIT, "windowSeconds": 3600}],
        quota={"limit": LIMIT, "period": "MONTH"},
    )  # fmt: skip
    headers = {"X-API-Key": secret}
    async with protected() as (client, _):
        for admitted in (1, 2, 3):  # requests further apart than a lease lasts
            assert quota_left(await client.get("/x", headers=headers)) == LIMIT - admitted
            await clock.advance(QUIET_SECONDS)
        burst = await asyncio.gather(*[client.get("/x", headers=headers) for _ in range(300)])
        assert {r.status_code for r in burst} == {200}
        await clock.advance(QUIET_SECONDS)  # silence: the lease ends and gives back the rest
        charged = 303
        if server.settings.redis_url:  # the admin server shares the counters only on Redis
            verified = (await gql.data(VERIFY, {"k": secret}))["verifyApiKey"]
            charged += 1
            assert verified == {"valid": True, "remaining": LIMIT - charged}
            await asyncio.sleep(QUIET_SECONDS)  # the admin server's lease ends, in real time
        assert quota_left(await client.get("/x", headers=headers)) == LIMIT - charged - 1
