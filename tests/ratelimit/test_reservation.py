"""Units reserved ahead: busy keys skip the storage round trip, limits never admit more."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from tests.ratelimit.conftest import FakeClock
from tollway.ratelimit import Algorithm, Limiter, Quota, QuotaPeriod, Window
from tollway.ratelimit.base import LimitStorage
from tollway.ratelimit.reservation import RESERVATION_MS
from tollway.ratelimit.types import Check, Lease, StorageAnswer


class Counting:
    """Counts the round trips that reach a real storage."""

    def __init__(self, storage: LimitStorage) -> None:
        self.storage = storage
        self.name = storage.name
        self.calls = 0

    async def apply(
        self,
        checks: Sequence[Check],
        cost: int,
        now_ms: int,
        reserve: int = 0,
        lease: Lease | None = None,
        final: bool = False,
    ) -> StorageAnswer:
        self.calls += 1
        return await self.storage.apply(
            checks, cost, now_ms=now_ms, reserve=reserve, lease=lease, final=final
        )

    async def reset(self) -> None:
        await self.storage.reset()

    async def aclose(self) -> None:
        await self.storage.aclose()


async def test_a_quota_is_never_exceeded_through_reservations(storage: LimitStorage) -> None:
    limiters = [Limiter(storage, reserve_units=100) for _ in range(3)]
    who = uuid.uuid4().hex
    windows = [Window(limit=10**6, seconds=60)]
    quota = Quota(limit=3000, period=QuotaPeriod.DAY)
    admitted = 0
    for _ in range(3):  # the units leased and not handed out go back between waves
        wave = [limiters[i % 3].hit(who, windows, quota=quota, cost=1 + i % 3) for i in range(4000)]
        decisions = await asyncio.gather(*wave)
        admitted += sum(1 + i % 3 for i, d in enumerate(decisions) if d.allowed)
        assert admitted <= 3000
        for limiter in limiters:
            await limiter.aclose()
    assert admitted >= 3000 - 2  # what is left is smaller than the costs still asked for


async def test_remaining_counts_down_as_if_every_request_were_counted(
    storage: LimitStorage, clock: FakeClock
) -> None:
    limiter = Limiter(storage, clock, reserve_units=64)
    who, window = (
        uuid.uuid4().hex,
        Window(limit=10_000, seconds=60, algorithm=Algorithm.FIXED_WINDOW),
    )
    remaining = [
        (await limiter.hit(who, [window], quota=None, cost=2)).results[0].remaining
        for _ in range(50)
    ]
    assert remaining == list(range(9998, 9998 - 100, -2))


async def test_other_instances_see_reserved_units_as_used(
    storage: LimitStorage, clock: FakeClock
) -> None:
    holder, other = Limiter(storage, clock, reserve_units=64), Limiter(storage, clock)
    who, window = (
        uuid.uuid4().hex,
        Window(limit=10_000, seconds=60, algorithm=Algorithm.FIXED_WINDOW),
    )
    await holder.hit(who, [window], quota=None)
    seen = (await other.hit(who, [window], quota=None)).results[0].remaining
    assert seen == 10_000 - 1 - 64 - 1


async def test_no_reservation_near_a_limit_and_none_outlives_its_time(
    storage: LimitStorage, clock: FakeClock
) -> None:
    counting = Counting(storage)
    limiter = Limiter(counting, clock, reserve_units=64)
    who = uuid.uuid4().hex
    small = [Window(limit=500, seconds=60)]
    for _ in range(5):
        await limiter.hit(who, small, quota=None)
    assert counting.calls == 5  # every request counted in the storage
    big = [Window(limit=10**6, seconds=3600, algorithm=Algorithm.FIXED_WINDOW)]
    await limiter.hit(who, big, quota=None)
    await limiter.hit(who, big, quota=None)
    assert counting.calls == 6  # the second came from the reservation
    clock.advance(RESERVATION_MS)
    await limiter.hit(who, big, quota=None)
    assert counting.calls == 7


async def test_a_busy_key_is_topped_up_before_its_reservation_runs_out(
    storage: LimitStorage, clock: FakeClock
) -> None:
    """One request at a time, as from a single busy client, with the storage answering before
    the next request: after the first, none finds the reservation empty, since it is topped
    up in the background once half of it is handed out."""
    counting = Counting(storage)
    limiter = Limiter(counting, clock, reserve_units=64)
    who, window = uuid.uuid4().hex, [Window(limit=100_000, seconds=3600)]
    assert (await limiter.hit(who, window, quota=None)).allowed  # asks, and reserves 64 ahead
    for _ in range(1000):
        decision = limiter.hit_now(
            who, window, quota=None, cost=1, route_windows=(), route="", now_ms=clock()
        )
        assert decision is not None  # admitted from units held, without waiting
        assert decision.allowed
        await limiter.settle()
    assert 1000 / 64 <= counting.calls <= 1000 / 32 + 2
    fresh = await Limiter(storage, clock).hit(who, window, quota=None)
    assert fresh.results[0].remaining <= 100_000 - 1001 - 1  # every unit handed out was counted
