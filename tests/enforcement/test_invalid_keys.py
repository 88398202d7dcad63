"""A flood of guessed keys from one address: refused early, never reaching the database
more than once per distinct secret, and never touching other clients."""

from __future__ import annotations

import secrets

from tests.conftest import GraphQL
from tests.enforcement.conftest import Protected
from tests.keyhelpers import create_key
from tests.keys.test_cache import CountingLoader
from tests.ratelimit.conftest import FakeClock
from tollway.enforcement.invalid_keys import InvalidKeyBudget

ATTACKER, OTHER = "198.51.100.66", "198.51.100.67"


def guessed() -> str:
    return "tw_live_" + secrets.token_urlsafe(24)


async def test_an_address_that_spends_its_budget_is_refused_without_a_lookup(
    gql: GraphQL, protected: Protected
) -> None:
    secret, _ = await create_key(gql, await gql.create_tenant())
    other_secret, _ = await create_key(gql, await gql.create_tenant())
    async with protected(ip=ATTACKER) as (client, middleware):
        runtime = middleware.runtime
        clock = FakeClock(1_800_000_000_000)  # the start of a minute
        runtime.verifier.invalid_keys = InvalidKeyBudget(5, 60, clock=clock)
        assert (await client.get("/x", headers={"X-API-Key": secret})).status_code == 200
        counting = runtime.cache._loader = CountingLoader(runtime.cache._loader)
        statuses = [(await client.get("/x", headers={"X-API-Key": guessed()})) for _ in range(50)]
        codes = [r.json()["error_code"] for r in statuses]
        assert codes == ["API_KEY_INVALID"] * 6 + ["RATE_LIMIT_EXCEEDED"] * 44
        assert statuses[-1].status_code == 429 and statuses[-1].headers["retry-after"] == "60"
        assert len(counting.queries) == 6  # the budget, and the secret that spent it
        # A key already cached still works from that address; a new one waits for the window.
        assert (await client.get("/x", headers={"X-API-Key": secret})).status_code == 200
        blocked = await client.get("/x", headers={"X-API-Key": other_secret})
        assert blocked.status_code == 429
        clock.advance(60_000)
        assert (await client.get("/x", headers={"X-API-Key": other_secret})).status_code == 200
        await runtime.activity.flush()


async def test_a_repeated_unknown_secret_is_looked_up_once(
    gql: GraphQL, protected: Protected
) -> None:
    async with protected(ip=OTHER) as (client, middleware):
        runtime = middleware.runtime
        counting = runtime.cache._loader = CountingLoader(runtime.cache._loader)
        unknown = guessed()
        for _ in range(3):
            response = await client.get("/x", headers={"X-API-Key": unknown})
            assert response.json()["error_code"] == "API_KEY_INVALID"
        assert len(counting.queries) == 1
