"""Every algorithm and quota on both backends, with a controllable clock."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from tests.ratelimit.conftest import FakeClock
from tollway.ratelimit import Algorithm, Limiter, Quota, QuotaPeriod, Window
from tollway.ratelimit.base import LimitStorage


def ident() -> str:
    return uuid.uuid4().hex


@pytest.mark.parametrize("algorithm", list(Algorithm))
async def test_admits_exactly_the_limit(
    storage: LimitStorage, clock: FakeClock, algorithm: Algorithm
) -> None:
    limiter = Limiter(storage, clock)
    who, window = ident(), Window(limit=5, seconds=60, algorithm=algorithm)
    decisions = [await limiter.hit(who, [window], quota=None) for _ in range(8)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert [d.results[0].remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert decisions[-1].retry_after_seconds >= 1


async def test_fixed_window_resets_at_the_boundary(storage: LimitStorage, clock: FakeClock) -> None:
    limiter = Limiter(storage, clock)
    clock.now = 1_800_000_040_000  # 40 s into a minute
    who, window = ident(), Window(limit=2, seconds=60, algorithm=Algorithm.FIXED_WINDOW)
    assert all([(await limiter.hit(who, [window], quota=None)).allowed for _ in range(2)])
    denied = await limiter.hit(who, [window], quota=None)
    assert not denied.allowed
    assert denied.retry_after_seconds == 20
    assert denied.results[0].reset_ms == 1_800_000_060_000
    clock.advance(20_000)
    assert (await limiter.hit(who, [window], quota=None)).allowed


async def test_sliding_window_weighs_the_previous_window(
    storage: LimitStorage, clock: FakeClock
) -> None:
    limiter = Limiter(storage, clock)
    clock.now = 1_800_000_000_000 - 1_800_000_000_000 % 60_000  # start of a minute
    who, window = ident(), Window(limit=10, seconds=60)
    for _ in range(10):
        assert (await limiter.hit(who, [window], quota=None)).allowed
    clock.advance(60_000 + 30_000)  # half-way through the next minute: 5 of 10 still count
    admitted = sum([(await limiter.hit(who, [window], quota=None)).allowed for _ in range(10)])
    assert admitted == 5


async def test_token_bucket_refills_at_the_rate_and_allows_burst(
    storage: LimitStorage, clock: FakeClock
) -> None:
    limiter = Limiter(storage, clock)
    who = ident()
    window = Window(limit=60, seconds=60, algorithm=Algorithm.TOKEN_BUCKET, burst=3)
    assert [(await limiter.hit(who, [window], quota=None)).allowed for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    clock.advance(1_000)  # one token per second
    assert (await limiter.hit(who, [window], quota=None)).allowed
    assert not (await limiter.hit(who, [window], quota=None)).allowed


async def test_rejected_requests_consume_nothing(storage: LimitStorage, clock: FakeClock) -> None:
    limiter = Limiter(storage, clock)
    who = ident()
    tight, quota = Window(limit=2, seconds=60), Quota(limit=100, period=QuotaPeriod.DAY)
    for _ in range(10):
        await limiter.hit(who, [tight], quota=quota)
    state = await limiter.hit(who, [Window(limit=1000, seconds=1)], quota=quota)
    assert state.results[-1].remaining == 100 - 2 - 1


async def test_quota_per_calendar_month(storage: LimitStorage, clock: FakeClock) -> None:
    limiter = Limiter(storage, clock)
    clock.now = int(datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC).timestamp() * 1000)
    who, quota = ident(), Quota(limit=3, period=QuotaPeriod.MONTH)
    assert [(await limiter.hit(who, [], quota=quota)).allowed for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    denied = await limiter.hit(who, [], quota=quota)
    assert denied.quota_exceeded
    assert denied.retry_after_seconds == 1
    clock.advance(1_000)  # December
    assert (await limiter.hit(who, [], quota=quota)).allowed


async def test_total_credits_and_refill(storage: LimitStorage, clock: FakeClock) -> None:
    limiter = Limiter(storage, clock)
    who = ident()
    credits = Quota(limit=2, period=QuotaPeriod.TOTAL)
    assert [(await limiter.hit(who, [], quota=credits)).allowed for _ in range(3)] == [
        True,
        True,
        False,
    ]
    clock.advance(400 * 86_400_000)
    assert not (await limiter.hit(who, [], quota=credits)).allowed
    refilled = Quota(limit=2, period=QuotaPeriod.TOTAL, refill=QuotaPeriod.DAY)
    other = ident()
    assert [(await limiter.hit(other, [], quota=refilled)).allowed for _ in range(3)] == [
        True,
        True,
        False,
    ]
    clock.advance(86_400_000)
    assert (await limiter.hit(other, [], quota=refilled)).allowed


async def test_cost_weights_and_most_constrained(storage: LimitStorage, clock: FakeClock) -> None:
    limiter = Limiter(storage, clock)
    who = ident()
    windows = [Window(limit=100, seconds=60), Window(limit=10, seconds=1)]
    decision = await limiter.hit(who, windows, quota=None, cost=4)
    assert decision.allowed
    assert decision.most_constrained is not None
    assert decision.most_constrained.name == "1s"
    assert decision.most_constrained.remaining == 6
    assert not (await limiter.hit(who, windows, quota=None, cost=7)).allowed
    assert (await limiter.hit(who, windows, quota=None, cost=6)).allowed


@pytest.mark.parametrize("algorithm", list(Algorithm))
async def test_concurrent_clients_get_exactly_n(
    storage: LimitStorage, algorithm: Algorithm
) -> None:
    limiter = Limiter(storage)  # real clock: genuinely concurrent
    who = ident()
    window = Window(limit=50, seconds=3600, algorithm=algorithm)
    quota = Quota(limit=40, period=QuotaPeriod.DAY)
    window_only = await asyncio.gather(
        *[limiter.hit(who, [window], quota=None) for _ in range(200)]
    )
    assert sum(d.allowed for d in window_only) == 50
    quota_id = ident()
    with_quota = await asyncio.gather(
        *[limiter.hit(quota_id, [window], quota=quota) for _ in range(200)]
    )
    assert sum(d.allowed for d in with_quota) == 40


@pytest.mark.parametrize("reserve", [0, 64])
async def test_deciding_without_waiting_agrees_with_hit_and_never_consumes_when_it_cannot(
    storage: LimitStorage, clock: FakeClock, reserve: int
) -> None:
    """`hit_now` decides as `hit` would when it can (memory counters, or units reserved
    ahead); when it cannot it returns None and consumes nothing, so `hit` counts once."""
    limiter = Limiter(storage, clock, reserve_units=reserve)
    who, window = ident(), [Window(limit=3, seconds=60)]
    admitted = 0
    for _ in range(5):
        decision = limiter.hit_now(
            who, window, quota=None, cost=1, route_windows=(), route="", now_ms=clock()
        )
        if decision is None:
            decision = await limiter.hit(who, window, quota=None, now_ms=clock())
        admitted += decision.allowed
        assert decision.results[0].remaining == 3 - admitted
    assert admitted == 3
    fresh = Limiter(storage, clock)  # what the storage itself holds
    assert not (await fresh.hit(who, window, quota=None)).allowed
