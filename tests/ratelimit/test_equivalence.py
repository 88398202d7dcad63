"""Property: the Redis script and the in-memory backend make identical decisions, with and
without units leased ahead (large limits leave room for leases, small ones none), and as
leases end and give their units back."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from tests.ratelimit.conftest import FakeClock
from tests.servers import RedisServer
from tollway.ratelimit import Algorithm, Limiter, MemoryStorage, Quota, QuotaPeriod, Window
from tollway.ratelimit.checks import admitted_levels
from tollway.ratelimit.redis import RedisStorage
from tollway.ratelimit.types import Level

windows = st.lists(
    st.builds(
        Window,
        limit=st.one_of(st.integers(1, 20), st.integers(1000, 5000)),
        seconds=st.sampled_from([1, 2, 5, 60]),
        algorithm=st.sampled_from(list(Algorithm)),
        burst=st.one_of(st.none(), st.integers(1, 20)),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda w: w.seconds,
)
quotas = st.one_of(
    st.none(),
    st.builds(
        Quota,
        limit=st.one_of(st.integers(1, 30), st.integers(1000, 5000)),
        period=st.sampled_from([QuotaPeriod.DAY, QuotaPeriod.TOTAL]),
    ),
)
steps = st.lists(
    # (ms to advance, cost, whether leases whose time has passed end first)
    st.tuples(st.integers(0, 1500), st.integers(1, 3), st.booleans()),
    min_size=1,
    max_size=60,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    windows=windows,
    quota=quotas,
    steps=steps,
    start=st.integers(0, 10**9),
    reserve=st.sampled_from([0, 16, 64]),
)
def test_backends_agree(
    redis_server: RedisServer,
    windows: list[Window],
    quota: Quota | None,
    steps: list[tuple[int, int, bool]],
    start: int,
    reserve: int,
) -> None:
    import asyncio

    async def replay() -> None:
        client = Redis.from_url(redis_server.url)
        store = RedisStorage(client)
        try:
            clock = FakeClock(1_800_000_000_000 + start)
            memory = Limiter(MemoryStorage(), clock, reserve_units=reserve)
            remote = Limiter(store, clock, reserve_units=reserve)
            who = uuid.uuid4().hex
            for advance, cost, end_leases in steps:
                clock.advance(advance)
                if end_leases:
                    for limiter in (memory, remote):
                        limiter.end_expired_reservations()
                        await limiter.settle()
                a = await memory.hit(who, windows, quota=quota, cost=cost)
                b = await remote.hit(who, windows, quota=quota, cost=cost)
                await memory.settle()  # reservations topped up in the background: the same
                await remote.settle()  # units on both, whichever answered first
                assert a == b, (clock.now, cost)
                for decision in (a, b):  # the headers' shortcut reads the same figures
                    if decision.allowed:
                        levels = [Level(r.remaining, r.reset_ms) for r in decision.results]
                        assert (
                            admitted_levels(
                                decision.checks, decision.states, cost=cost, now_ms=clock.now
                            )
                            == levels
                        )
        finally:
            await store.aclose()
            await client.aclose()

    asyncio.run(replay())
