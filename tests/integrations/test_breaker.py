"""Circuit breakers: the transitions under an injected clock, on memory and on a real Redis,
and one state seen the same from two instances sharing that Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.servers import RedisServer
from tollway.integrations.breaker import (
    BreakerPolicy,
    BreakerStatus,
    BreakerStore,
    MemoryBreakers,
    RedisBreakers,
)

POLICY = BreakerPolicy(
    consecutive_failures=3, failure_ratio=0.5, min_requests=10, window_ms=60_000,
    first_open_ms=1_000, max_open_ms=4_000, trial_ms=500,
)  # fmt: skip
OPEN, HALF, CLOSED = BreakerStatus.OPEN, BreakerStatus.HALF_OPEN, BreakerStatus.CLOSED


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[BreakerStore]:
    if request.param == "memory":
        yield MemoryBreakers()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    redis = Redis.from_url(server.url)
    try:
        yield RedisBreakers(redis, prefix=f"test:{id(request)}:")
    finally:
        await redis.aclose()


async def fail(store: BreakerStore, times: int, now: int, name: str = "i") -> None:
    for _ in range(times):
        await store.observe(name, POLICY, ok=False, now_ms=now)


async def test_consecutive_failures_open_then_a_trial_closes(store: BreakerStore) -> None:
    await fail(store, 2, now=0)
    assert (await store.admit("i", POLICY, now_ms=1)).allowed
    await fail(store, 1, now=2)  # the third in a row
    refused = await store.admit("i", POLICY, now_ms=502)
    assert (refused.allowed, refused.status, refused.retry_after_ms) == (False, OPEN, 500)
    trial = await store.admit("i", POLICY, now_ms=1_002)
    assert (trial.allowed, trial.status) == (True, HALF)
    assert not (await store.admit("i", POLICY, now_ms=1_100)).allowed  # one trial at a time
    closed = await store.observe("i", POLICY, ok=True, now_ms=1_200)
    assert closed.previous is HALF and closed.state.status is CLOSED
    assert (await store.admit("i", POLICY, now_ms=1_201)).allowed


async def test_a_failed_trial_doubles_the_backoff_up_to_its_cap(store: BreakerStore) -> None:
    await fail(store, 3, now=0)
    opened_for = []
    now = 0
    for _ in range(4):
        state = await store.read("i")
        opened_for.append(state.open_until_ms - now)
        now = state.open_until_ms
        assert (await store.admit("i", POLICY, now_ms=now)).status is HALF
        await fail(store, 1, now=now)
    assert opened_for == [1_000, 2_000, 4_000, 4_000]


async def test_a_failure_share_opens_only_above_the_minimum_volume(store: BreakerStore) -> None:
    for i in range(9):  # alternating: never 3 in a row, 4 of 9 failed
        await store.observe("i", POLICY, ok=i % 2 == 0, now_ms=i)
    assert (await store.read("i")).status is CLOSED
    await store.observe("i", POLICY, ok=False, now_ms=9)  # 5 of 10: half
    assert (await store.read("i")).status is OPEN


async def test_the_window_forgets_old_failures(store: BreakerStore) -> None:
    for i in range(8):
        await store.observe("i", POLICY, ok=i % 2 == 0, now_ms=i)
    for i in range(4):  # a new window: 2 of 4 failed, below the minimum volume
        await store.observe("i", POLICY, ok=i % 2 == 0, now_ms=60_000 + i)
    state = await store.read("i")
    assert (state.status, state.window_requests, state.window_failures) == (CLOSED, 4, 2)


async def test_two_instances_see_one_breaker(redis_server: RedisServer) -> None:
    first, second = Redis.from_url(redis_server.url), Redis.from_url(redis_server.url)
    a, b = RedisBreakers(first, prefix="two:"), RedisBreakers(second, prefix="two:")
    try:
        await asyncio.gather(*(s.observe("i", POLICY, ok=False, now_ms=0) for s in (a, b, a)))
        assert (await b.admit("i", POLICY, now_ms=10)).status is OPEN  # opened through a and b
        trials = await asyncio.gather(*(s.admit("i", POLICY, now_ms=1_000) for s in (a, b) * 5))
        assert sum(t.allowed for t in trials) == 1  # exactly one half-open trial between them
        await a.observe("i", POLICY, ok=True, now_ms=1_100)
        assert (await b.read("i")).status is CLOSED
    finally:
        await first.aclose()
        await second.aclose()
