"""Faults: Redis stopped mid-traffic (fail open or closed, then recovery); database down."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.clock import ManualClock
from tests.conftest import GraphQL, LiveServer
from tests.enforcement.conftest import Protected
from tests.keyhelpers import create_key
from tests.servers import RedisServer
from tollway.health.checks import HealthChecker, HealthStatus
from tollway.keys.cache import DatabaseUnavailable, KeyCache
from tollway.keys.records import KeyRecord
from tollway.models import KeyStatus


async def statuses(client: object, secret: str, n: int) -> list[int]:
    return [(await client.get("/x", headers={"X-API-Key": secret})).status_code for _ in range(n)]  # type: ignore[attr-defined]


async def test_fail_open_keeps_limits_per_instance_and_recovers(
    gql: GraphQL,
    protected: Protected,
    server: LiveServer,
    own_redis: RedisServer,
    clock: ManualClock,
) -> None:
    settings = server.settings.model_copy(
        update={"redis_url": own_redis.url, "ratelimit_failure_mode": "open"}
    )
    secret, _ = await create_key(
        gql, await gql.create_tenant(), rateLimits=[{"limit": 4, "windowSeconds": 3600}]
    )
    async with protected(settings=settings) as (client, _):
        assert await statuses(client, secret, 2) == [200, 200]
        own_redis.stop()
        # Redis is gone: the local limiter takes over with the same limit, never a 500.
        assert await statuses(client, secret, 6) == [200] * 4 + [429] * 2
        own_redis.start()  # a fresh Redis: it remembers nothing
        await clock.advance(1.2)  # past the interval Redis is retried at
        # Back on Redis: the local limiter (exhausted) would refuse at once; Redis admits 4.
        assert await statuses(client, secret, 5) == [200] * 4 + [429]


async def test_fail_closed_answers_503_and_recovers(
    gql: GraphQL,
    protected: Protected,
    server: LiveServer,
    own_redis: RedisServer,
    clock: ManualClock,
) -> None:
    settings = server.settings.model_copy(
        update={"redis_url": own_redis.url, "ratelimit_failure_mode": "closed"}
    )
    secret, _ = await create_key(
        gql, await gql.create_tenant(), rateLimits=[{"limit": 100, "windowSeconds": 60}]
    )
    async with protected(settings=settings) as (client, _):
        assert await statuses(client, secret, 1) == [200]
        own_redis.stop()
        response = await client.get("/x", headers={"X-API-Key": secret})
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["error_code"] == "SERVICE_UNAVAILABLE"
        own_redis.start()
        await clock.advance(1.2)  # past the interval Redis is retried at
        assert await statuses(client, secret, 1) == [200]


def record(key_id: str = "k1") -> KeyRecord:
    return KeyRecord(
        key_id=key_id, tenant_id="t", name="n", prefix="tw_live_abcd", environment="LIVE",
        owner_type="CUSTOMER", owner_id=None, plan=None, status=KeyStatus.ACTIVE, tenant_active=True,
        expires_at_ms=None, secret_expires_at_ms=None, scopes=frozenset(), networks=(),
        origins=frozenset(), windows=(), quota=None,
    )  # fmt: skip


class Seconds:
    """A controllable monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_cached_keys_keep_working_while_the_database_is_down() -> None:
    # The database cannot be stopped under the shared test server, so its loader fails here
    # (tests/metering/test_outage.py stops a real one).
    database_up, calls = True, []

    async def loader(secret_hash: str) -> KeyRecord | None:
        calls.append(secret_hash)
        if not database_up:
            raise ConnectionRefusedError("database down")
        return record() if secret_hash == "known" else None

    clock = Seconds()
    cache = KeyCache(loader, ttl=1, negative_ttl=1, clock=clock)
    assert await cache.get("known") == record()
    clock.now += 2  # past the cache time
    database_up = False
    assert await cache.get("known") == record()  # stale, but served; the breaker opens
    assert cache.breaker.is_open
    calls.clear()
    for _ in range(100):  # while it is open, answered at once: no call reaches the database
        assert await cache.get("known") == record()
        with pytest.raises(DatabaseUnavailable):
            await cache.get("never-seen")
    assert calls == []
    clock.now += 0.25  # the backoff has passed: one lookup probes, the others do not wait
    probes = await asyncio.gather(*[cache.get("known") for _ in range(10)], return_exceptions=True)
    assert probes == [record()] * 10 and len(calls) == 1
    database_up = True
    clock.now += 0.5  # the next probe succeeds and closes the breaker
    assert await cache.get("never-seen") is None
    assert not cache.breaker.is_open
    cache.invalidate_key("k1")
    database_up = False
    with pytest.raises(DatabaseUnavailable):  # forgotten, so nothing stale to serve
        await cache.get("known")


async def test_a_lookup_that_hangs_counts_as_the_database_down() -> None:
    async def hanging(secret_hash: str) -> KeyRecord | None:
        await asyncio.Event().wait()  # a host that never answers
        return None

    cache = KeyCache(hanging, lookup_timeout=0.05)
    with pytest.raises(DatabaseUnavailable):
        await cache.get("never-seen")
    assert cache.breaker.is_open
    with pytest.raises(DatabaseUnavailable):  # at once now: the breaker is open
        await asyncio.wait_for(cache.get("another"), timeout=0.01)


async def refused_within(clients: list[object], secret: str, seconds: float) -> float:
    """Seconds until every client's request with `secret` is refused (fails past `seconds`)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        codes = await asyncio.gather(
            *[c.get("/x", headers={"X-API-Key": secret}) for c in clients]  # type: ignore[attr-defined]
        )
        if all(r.status_code == 401 for r in codes):
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"the revoked key still worked {seconds}s after Redis came back")


async def test_live_events_reconnect_and_a_key_revoked_meanwhile_is_refused(
    gql: GraphQL, protected: Protected, server: LiveServer, own_redis: RedisServer
) -> None:
    settings = server.settings.model_copy(update={"redis_url": own_redis.url})
    secret, key = await create_key(gql, await gql.create_tenant())
    async with (
        protected(settings=settings) as (one, first),
        protected(settings=settings) as (two, second),
    ):
        assert [(await c.get("/x", headers={"X-API-Key": secret})).status_code for c in (one, two)] == [200, 200]  # fmt: skip
        health = HealthChecker(
            first.runtime.bus, first.runtime.redis, timeout=1.0, heartbeat_seconds=5.0
        )
        assert (await health.broadcaster()).status is HealthStatus.HEALTHY
        own_redis.stop()
        revoke = 'mutation($id: ID!) { revokeApiKey(id: $id, reason: "leak") { apiKey { id } } }'
        await gql.data(revoke, {"id": key["id"]})  # its announcement reaches no instance
        await asyncio.sleep(2.0)  # the connection is noticed lost
        assert (await health.broadcaster()).status is HealthStatus.UNHEALTHY
        assert (await one.get("/x", headers={"X-API-Key": secret})).status_code == 200  # cached
        own_redis.start()
        assert await refused_within([one, two], secret, 2.0) < 2.0
        assert (await health.broadcaster()).status is HealthStatus.HEALTHY
        assert first.runtime.bus.is_listening() and second.runtime.bus.is_listening()


async def test_keys_long_unused_are_dropped_but_never_while_the_database_is_down() -> None:
    database_up = True

    async def loader(secret_hash: str) -> KeyRecord | None:
        if not database_up:
            raise ConnectionRefusedError("database down")
        return record(secret_hash)

    clock = Seconds()
    cache = KeyCache(loader, ttl=60, keep_stale=900, clock=clock)
    for key in ("busy", "idle"):
        await cache.get(key)
    clock.now += 900  # both past their cache time, neither yet kept for long enough
    assert cache.sweep() == 0
    await cache.get("busy")  # used: looked up again, fresh again
    clock.now += 61
    assert cache.sweep() == 1  # "idle", unused for 900 s past its cache time
    database_up = False
    clock.now += 2000
    assert await cache.get("busy") == record("busy")  # stale, served; the breaker opens
    assert cache.sweep() == 0  # kept: it serves its key through the outage
    with pytest.raises(DatabaseUnavailable):
        await cache.get("idle")  # dropped before the outage: nothing stale to serve
