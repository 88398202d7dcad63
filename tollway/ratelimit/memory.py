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

    Atomic without locks: `apply` never awaits, so no other task runs in between. The
    formulas are `lua/limits.lua`'s (`room` is what a check has left beyond this request;
    `checks.check_allows` is the same test), written out here because this runs on every
    request.
    """

    name = "memory"

    def __init__(self) -> None:
        self._values: dict[str, tuple[int, int]] = {}  # key -> (value, expires_at_ms or 0)
        self._expiry: list[tuple[int, str]] = []

    def _evict(self, now_ms: int) -> None:
        values = self._values
        while self._expiry and self._expiry[0][0] <= now_ms:
            _, key = heapq.heappop(self._expiry)
            entry = values.get(key)
            if entry is not None and entry[1] and entry[1] <= now_ms:
                del values[key]

    def _value(self, key: str, now_ms: int) -> int:
        entry = self._values.get(key)
        if entry is None or (entry[1] and entry[1] <= now_ms):
            return 0
        return entry[0]

    async def apply(
        self, checks: Sequence[Check], cost: int, now_ms: int, reserve: int = 0
    ) -> tuple[bool, int, list[tuple[int, int]]]:
        """Evaluate every check, consume all when every one allows (see `LimitStorage`)."""
        if self._expiry and self._expiry[0][0] <= now_ms:
            self._evict(now_ms)
        value = self._value
        states: list[tuple[int, int]] = []
        allowed = True
        for check in checks:
            keys, kind = check.keys, check.kind
            a = value(keys[0], now_ms)
            b = 0
            if kind is SLIDING:
                b = value(keys[1], now_ms)
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
        for check, (a, _) in zip(checks, states, strict=True):
            self._consume(check, a, units, now_ms)
        return True, reserve, states

    def _consume(self, check: Check, before: int, cost: int, now_ms: int) -> None:
        key = check.keys[0]
        if check.kind is GCRA:
            tat = (before if before > now_ms else now_ms) + cost * check.interval_ms
            expires = tat + EXPIRY_MARGIN_MS
            value = tat
        else:
            expires = check.expire_at_ms
            value = before + cost
            old = self._values.get(key)
            if old is not None and old[1] == expires:  # counting on: the expiry is scheduled
                self._values[key] = (value, expires)
                return
        self._values[key] = (value, expires)
        if expires:
            heapq.heappush(self._expiry, (expires, key))

    async def reset(self) -> None:
        """Forget every counter."""
        self._values.clear()
        self._expiry.clear()

    async def aclose(self) -> None:
        """Nothing to release."""
