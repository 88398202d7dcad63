"""The storage interface both backends implement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tollway.ratelimit.types import Check


class LimitStorage(Protocol):
    """Tests and consumes a set of checks atomically: all consumed, or none."""

    name: str

    async def apply(
        self, checks: Sequence[Check], cost: int, now_ms: int
    ) -> tuple[bool, list[tuple[int, int]]]:
        """(allowed, each check's state before the request)."""
        ...

    async def reset(self) -> None:
        """Forget every counter (tests and emergency resets)."""
        ...

    async def aclose(self) -> None:
        """Release connections the storage opened itself."""
        ...
