"""The limiter: builds checks, asks a storage, reads back a Decision."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from tollway.ratelimit.base import LimitStorage
from tollway.ratelimit.checks import build_checks, read_result
from tollway.ratelimit.types import Decision, Quota, Window


def wall_clock_ms() -> int:
    """Milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


class Limiter:
    """Checks and consumes every window and the quota of one request together."""

    def __init__(self, storage: LimitStorage, clock: Callable[[], int] = wall_clock_ms) -> None:
        self.storage = storage
        self._clock = clock

    def now_ms(self) -> int:
        """The limiter's clock."""
        return self._clock()

    async def hit(
        self,
        identity: str,
        windows: Sequence[Window],
        quota: Quota | None,
        cost: int = 1,
        route_windows: Sequence[Window] = (),
        route: str = "",
    ) -> Decision:
        """Admit the request (consuming `cost` everywhere) or reject it (consuming nothing)."""
        now = self._clock()
        checks = build_checks(identity, windows, quota, now, route_windows, route)
        if not checks:
            return Decision(True, ())
        allowed, states = await self.storage.apply(checks, cost, now)
        results = tuple(
            read_result(c, s, cost, now, allowed) for c, s in zip(checks, states, strict=True)
        )
        return Decision(allowed, results)
