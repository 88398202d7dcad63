"""The storage interface both backends implement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tollway.ratelimit.types import Check


class LimitStorage(Protocol):
    """Tests and consumes a set of checks atomically: all consumed, or none."""

    name: str

    async def apply(
        self, checks: Sequence[Check], cost: int, now_ms: int, reserve: int = 0
    ) -> tuple[bool, int, list[tuple[int, int]]]:
        """(allowed, units reserved ahead, each check's state before the request).

        An admitted request may also reserve up to `reserve` more units, consumed now, for the
        caller to admit later requests with locally (see `Limiter`); how many it gets depends
        on the room every check has left (`checks.RESERVE_SHARE`, `RESERVE_MIN_ROOM`).
        """
        ...

    async def reset(self) -> None:
        """Forget every counter (tests and emergency resets)."""
        ...

    async def aclose(self) -> None:
        """Release connections the storage opened itself."""
        ...
