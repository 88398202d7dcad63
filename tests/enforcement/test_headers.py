"""The RateLimit headers of admitted and refused decisions, built from real limiter decisions."""

from __future__ import annotations

from tests.ratelimit.conftest import FakeClock
from tollway.enforcement.headers import ratelimit_headers
from tollway.ratelimit import Limiter, MemoryStorage, Quota, QuotaPeriod, Window

START = 1_800_000_000_000  # the start of a 10 s window (and of a minute)


async def test_admitted_headers_count_down_every_policy() -> None:
    clock = FakeClock(START)
    limiter = Limiter(MemoryStorage(), clock)
    windows, quota = [Window(limit=10, seconds=10)], Quota(limit=100, period=QuotaPeriod.DAY)
    clock.advance(1_000)
    decision = await limiter.hit("k", windows, quota=quota, cost=3)
    headers = dict(ratelimit_headers(decision, clock.now))
    assert headers[b"ratelimit-policy"] == b'"10s";q=10;w=10, "quota-day";q=100;w=86400'
    day_left = (86_400_000 - (START + 1_000) % 86_400_000 + 999) // 1000
    assert headers[b"ratelimit"] == b'"10s";r=7;t=9, "quota-day";r=97;t=%d' % day_left
    assert (headers[b"x-ratelimit-limit"], headers[b"x-ratelimit-remaining"]) == (b"10", b"7")
    assert b"retry-after" not in headers


async def test_a_refused_sliding_window_says_when_the_same_request_is_admitted() -> None:
    clock = FakeClock(START)
    limiter = Limiter(MemoryStorage(), clock)
    windows = [Window(limit=10, seconds=10)]
    clock.advance(1_000)
    for _ in range(10):
        await limiter.hit("k", windows, quota=None)
    refused = await limiter.hit("k", windows, quota=None)
    headers = dict(ratelimit_headers(refused, clock.now))
    # Past the reset (9 s) until the full window's weight as the previous one lets one in.
    assert headers[b"retry-after"] == b"10"
    assert headers[b"ratelimit"] == b'"10s";r=0;t=10'


async def test_spent_credits_have_no_retry_after() -> None:
    limiter = Limiter(MemoryStorage(), FakeClock(START))
    credits = Quota(limit=1, period=QuotaPeriod.TOTAL)
    await limiter.hit("k", [], quota=credits)
    refused = await limiter.hit("k", [], quota=credits)
    headers = dict(ratelimit_headers(refused, START))
    assert b"retry-after" not in headers
    assert headers[b"ratelimit"] == b'"quota-total";r=0'
