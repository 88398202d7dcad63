"""In-memory backend: the twin of the Redis script, for embedded mode and fail-open."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from tollway.ratelimit.checks import check_allows
from tollway.ratelimit.types import Check, Kind


class MemoryStorage:
    """Counters in a dict, expiring by the same clock the checks are evaluated with.

    Atomic without locks: `apply` never awaits, so no other task runs in between.
    """

    name = "memory"

    def __init__(self) -> None:
        self._values: dict[str, tuple[int, int]] = {}  # key -> (value, expires_at_ms or 0)
        self._expiry: list[tuple[int, str]] = []

    def _get(self, key: str, now_ms: int) -> int:
        entry = self._values.get(key)
        if entry is None:
            return 0
        value, expires = entry
        if expires and expires <= now_ms:
            del self._values[key]
            return 0
        return value

    def _set(self, key: str, value: int, ttl_ms: int, now_ms: int, keep_ttl: bool) -> None:
        old = self._values.get(key)
        if keep_ttl and old is not None:
            expires = old[1]
        else:
            expires = now_ms + ttl_ms if ttl_ms > 0 else 0
            if expires:
                heapq.heappush(self._expiry, (expires, key))
        self._values[key] = (value, expires)

    def _evict(self, now_ms: int) -> None:
        while self._expiry and self._expiry[0][0] <= now_ms:
            _, key = heapq.heappop(self._expiry)
            entry = self._values.get(key)
            if entry is not None and entry[1] and entry[1] <= now_ms:
                del self._values[key]

    async def apply(
        self, checks: Sequence[Check], cost: int, now_ms: int
    ) -> tuple[bool, list[tuple[int, int]]]:
        """Evaluate every check, consume all when every one allows."""
        if self._expiry and self._expiry[0][0] <= now_ms:
            self._evict(now_ms)
        states: list[tuple[int, int]] = []
        allowed = True
        for check in checks:
            keys = check.keys
            a = self._get(keys[0], now_ms)
            b = self._get(keys[1], now_ms) if check.kind is Kind.SLIDING else 0
            states.append((a, b))
            if allowed and not check_allows(check, (a, b), cost, now_ms):
                allowed = False
        if allowed:
            for check, (a, _) in zip(checks, states, strict=True):
                if check.kind is Kind.GCRA:
                    tat = max(a, now_ms) + cost * check.interval_ms
                    self._set(check.keys[0], tat, check.ttl_ms, now_ms, keep_ttl=False)
                else:
                    fresh = check.keys[0] not in self._values
                    self._set(check.keys[0], a + cost, check.ttl_ms, now_ms, keep_ttl=not fresh)
        return allowed, states

    async def reset(self) -> None:
        """Forget every counter."""
        self._values.clear()
        self._expiry.clear()

    async def aclose(self) -> None:
        """Nothing to release."""
