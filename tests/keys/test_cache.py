"""The key cache on a real database: one query per cold lookup, however many ask at once, and
one per unknown secret."""

from __future__ import annotations

import asyncio

from tests.conftest import GraphQL
from tests.keyhelpers import create_key
from tollway.keys.cache import KeyCache, Loader
from tollway.keys.records import KeyRecord, fetch_key_record
from tollway.keys.secrets import hash_secret


class CountingLoader:
    """A key loader (`fetch_key_record` by default), counting the queries it makes."""

    def __init__(self, load: Loader = fetch_key_record) -> None:
        self.load = load
        self.queries: list[str] = []

    async def __call__(self, secret_hash: str) -> KeyRecord | None:
        self.queries.append(secret_hash)
        return await self.load(secret_hash)


async def test_a_key_is_read_whole_in_one_query(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    secret, key = await create_key(
        gql, tenant, scopes=["reports:read"], allowedIps=["10.0.0.0/8"],
        allowedOrigins=["https://app.example"], quota={"limit": 500, "period": "DAY"},
    )  # fmt: skip
    record = await fetch_key_record(hash_secret(secret))
    assert record is not None
    assert (record.key_id, record.tenant_id, record.prefix) == (key["id"], tenant, key["prefix"])
    assert record.scopes == {"reports:read"} and record.origins == {"https://app.example"}
    assert [str(n) for n in record.networks] == ["10.0.0.0/8"]
    assert record.tenant_active and record.plan == "FREE"
    assert [(w.limit, w.seconds) for w in record.windows] == [(60, 60)]  # the plan's window
    assert record.quota is not None and record.quota.limit == 500  # the key's own quota
    assert await fetch_key_record(hash_secret("tw_live_" + "x" * 32)) is None


async def test_concurrent_cold_lookups_share_one_query(gql: GraphQL) -> None:
    secret, key = await create_key(gql, await gql.create_tenant())
    loader = CountingLoader()
    cache = KeyCache(loader)
    records = await asyncio.gather(*[cache.for_secret(secret) for _ in range(50)])
    assert {r.key_id for r in records if r is not None} == {key["id"]}
    assert len(loader.queries) == 1


async def test_an_unknown_secret_costs_one_query(gql: GraphQL) -> None:
    loader = CountingLoader()
    cache = KeyCache(loader)
    unknown = "tw_live_" + "u" * 32
    for _ in range(3):
        assert await asyncio.gather(*[cache.for_secret(unknown) for _ in range(20)]) == [None] * 20
    assert len(loader.queries) == 1
