"""In-memory backend: the twin of the Redis script, for embedded mode and fail-open."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from tollway.ratelimit.checks import (
    EXPIRY_MARGIN_MS,
    FIXED,
    GCRA,
    RESERVE_MIN_ROOM,
    RESERVE_SHARE,
    SLIDING,
)
from tollway.ratelimit.types import Check


class MemoryStorage:
    """Counters in a dict, expiring by the same clock the checks are evaluated with.

    Atomic without locks: `apply_now` never awaits, so no other task runs in between. The
    formulas are `lua/limits.lua`'s (`room` is what a check has left beyond this request;
    `checks.check_allows` is the same test), written out here because this runs on every
    request.
    """

    name = "memory"

    def __init__(self) -> None:
        self._values: dict[str, list[int]] = {}  # key -> [value, expires_at_ms or 0]
        self._expiry: list[tuple[int, str]] = []

    def _evict(self, now_ms: int) -> None:
        values = self._values
        while self._expiry and self._expiry[0][0] <= now_ms:
            _, key = heapq.heappop(self._expiry)
            entry = values.get(key)
            if entry is not None and entry[1] and entry[1] <= now_ms:
                del values[key]

    async def apply(
        self, checks: Sequence[Check], cost: int, now_ms: int, reserve: int = 0
    ) -> tuple[bool, int, list[tuple[int, int]]]:
        """Evaluate every check, consume all when every one allows (see `LimitStorage`)."""
        return self.apply_now(checks, cost, now_ms, reserve)

    def apply_now(
        self, checks: Sequence[Check], cost: int, now_ms: int, reserve: int = 0
    ) -> tuple[bool, int, list[tuple[int, int]]]:
        """`apply` without awaiting (it never has to): the limiter's hot path calls this."""
        expiry = self._expiry
        if expiry and expiry[0][0] <= now_ms:
            self._evict(now_ms)
        # After eviction no counter has expired, so a missing one reads as zero.
        values = self._values
        states: list[tuple[int, int]] = []
        counters: list[list[int] | None] = []
        allowed = True
        for check in checks:
            keys, kind = check.keys, check.kind
            counter = values.get(keys[0])
            counters.append(counter)
            a = 0 if counter is None else counter[0]
            b = 0
            if kind is SLIDING:
                previous = values.get(keys[1])
                if previous is not None:
                    b = previous[0]
                w = check.interval_ms
                room = (check.limit * w - b * (check.reset_ms - now_ms) - (a + cost) * w) // w
            elif kind is FIXED:
                room = check.limit - a - cost
            else:
                interval = check.interval_ms
                late = a - now_ms if a > now_ms else 0
                room = (check.burst * interval - late - cost * interval) // interval
            if room < 0:
                allowed = False
            if reserve:
                ahead = room // RESERVE_SHARE if room >= RESERVE_MIN_ROOM else 0
                if ahead < reserve:
                    reserve = ahead
            states.append((a, b))
        if not allowed:
            return False, 0, states
        units = cost + reserve
        for check, counter, (a, _) in zip(checks, counters, states, strict=False):
            if check.kind is GCRA:
                value = (a if a > now_ms else now_ms) + units * check.interval_ms
                expires = value + EXPIRY_MARGIN_MS
            else:
                expires = check.expire_at_ms
                if counter is not None and counter[1] == expires:
                    counter[0] = a + units  # counting on: the expiry is scheduled already
                    continue
                value = a + units
            if counter is None:
                values[check.keys[0]] = [value, expires]
            else:
                counter[0], counter[1] = value, expires
            if expires:
                heapq.heappush(expiry, (expires, check.keys[0]))
        return True, reserve, states

    async def reset(self) -> None:
        """Forget every counter."""
        self._values.clear()
        self._expiry.clear()

    async def aclose(self) -> None:
        """Nothing to release."""
