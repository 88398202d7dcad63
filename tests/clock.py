"""A clock that runs with real time and jumps ahead when a test says so.

Time keeps flowing (connections, servers and the database go on as usual) while `advance`
moves every reading and every pending `sleep` forward at once: a test waits out a lease, a
grace period or a retry interval without sleeping through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable


class ManualClock:
    """Real time plus an offset that only grows; a `tollway.clock.Clock`."""

    def __init__(self) -> None:
        self.offset = 0.0
        self._advanced = asyncio.Event()

    def monotonic(self) -> float:
        """Real monotonic seconds plus the offset."""
        return time.monotonic() + self.offset

    def millis(self) -> int:
        """Real wall-clock milliseconds plus the offset."""
        return time.time_ns() // 1_000_000 + int(self.offset * 1000)

    async def sleep(self, seconds: float) -> None:
        """Until `seconds` have passed on this clock, by real time or by `advance`."""
        deadline = self.monotonic() + seconds
        while (left := deadline - self.monotonic()) > 0:
            advanced = self._advanced
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await advanced.wait()

    async def advance(self, seconds: float) -> None:
        """Move time `seconds` ahead and let every sleeper that is due run."""
        self.offset += seconds
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()
        for _ in range(5):  # woken sleepers run their next step before the test goes on
            await asyncio.sleep(0)


async def until(check: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0) -> None:
    """Poll `check` (plain or async) until it is true (what travels over real connections,
    such as an invalidation, takes real time); fails after `timeout` real seconds."""
    deadline = time.monotonic() + timeout
    while not await _truth(check()):
        assert time.monotonic() < deadline, f"not true within {timeout} s"
        await asyncio.sleep(0.01)


async def _truth(value: bool | Awaitable[bool]) -> bool:
    return await value if inspect.isawaitable(value) else bool(value)
