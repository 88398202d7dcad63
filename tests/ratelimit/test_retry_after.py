"""Property: Retry-After is the wait after which the same request is admitted, for every
algorithm, and no shorter wait would do."""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ratelimit.conftest import FakeClock
from tollway.ratelimit import Algorithm, Limiter, MemoryStorage, Quota, QuotaPeriod, Window

windows = st.lists(
    st.builds(
        Window,
        limit=st.integers(1, 12),
        seconds=st.sampled_from([1, 2, 10, 60]),
        algorithm=st.sampled_from(list(Algorithm)),
        burst=st.one_of(st.none(), st.integers(1, 12)),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda w: w.seconds,
)
quotas = st.one_of(
    st.none(), st.builds(Quota, limit=st.integers(1, 40), period=st.just(QuotaPeriod.DAY))
)


@settings(max_examples=300, deadline=None)
@given(
    windows=windows,
    quota=quotas,
    earlier=st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 3)), max_size=30),
    cost=st.integers(1, 3),
    start=st.integers(0, 10**9),
)
def test_waiting_the_retry_time_admits_the_request(
    windows: list[Window],
    quota: Quota | None,
    earlier: list[tuple[int, int]],
    cost: int,
    start: int,
) -> None:
    async def replay() -> None:
        clock = FakeClock(1_800_000_000_000 + start)
        limiter, who = Limiter(MemoryStorage(), clock), uuid.uuid4().hex
        for advance, units in earlier:  # traffic before: previous windows, partial buckets
            clock.advance(advance)
            await limiter.hit(who, windows, quota=quota, cost=units)
        for _ in range(200):
            refused = await limiter.hit(who, windows, quota=quota, cost=cost)
            if not refused.allowed:
                break
        else:
            return
        if refused.retry_after_seconds is None:  # only when the cost exceeds a limit
            limits = [min(w.limit, w.burst or w.limit) for w in windows]
            assert cost > min(limits + ([quota.limit] if quota else []))
            return
        wait_ms = max(r.retry_after_ms or 0 for r in refused.results if r.exceeded)
        assert refused.retry_after_seconds * 1000 >= wait_ms
        clock.advance(wait_ms - 1)
        assert not (await limiter.hit(who, windows, quota=quota, cost=cost)).allowed  # no sooner
        clock.advance(1)
        assert (await limiter.hit(who, windows, quota=quota, cost=cost)).allowed

    asyncio.run(replay())


async def test_sliding_window_retry_counts_the_previous_window() -> None:
    """The case the old formula got wrong: the current window alone is full, so the wait runs
    past the reset, until the full window's weight as the previous one has fallen enough."""
    clock = FakeClock(1_800_000_000_000)  # the start of a 10 s window
    limiter, who = Limiter(MemoryStorage(), clock), uuid.uuid4().hex
    window = [Window(limit=10, seconds=10)]
    clock.advance(1_000)
    for _ in range(10):
        assert (await limiter.hit(who, window, quota=None)).allowed
    refused = await limiter.hit(who, window, quota=None)
    # 9 s to the reset, then 1 s more: 10 * (10 - 1) / 10 + 1 <= 10.
    assert refused.retry_after_seconds == 10
    clock.advance(9_999)
    assert not (await limiter.hit(who, window, quota=None)).allowed
    clock.advance(1)
    assert (await limiter.hit(who, window, quota=None)).allowed


async def test_spent_credits_give_no_retry_time() -> None:
    clock = FakeClock()
    limiter, who = Limiter(MemoryStorage(), clock), uuid.uuid4().hex
    credits = Quota(limit=2, period=QuotaPeriod.TOTAL)
    for _ in range(2):
        assert (await limiter.hit(who, [], quota=credits)).allowed
    refused = await limiter.hit(who, [], quota=credits)
    assert refused.quota_exceeded and refused.never_admitted
    assert refused.retry_after_seconds is None
