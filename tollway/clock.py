"""The clock the long-running parts read and sleep by, injected so tests can move it.

Everything that waits in a loop (the enforcement runtime's refreshes and sweeps, lease
upkeep, failover retries, the usage writer's restarts, the worker's jobs) takes a `Clock`
instead of calling `time` and `asyncio.sleep` itself. Production passes `SYSTEM_CLOCK`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


def wall_clock_ms() -> int:
    """Milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def whole_seconds(ms: int) -> int:
    """A wait in milliseconds as whole seconds, rounded up and at least 1: what a
    `Retry-After` header and a "retry in N s" message carry."""
    return max(1, -(-ms // 1000))


class Clock(Protocol):
    """Time as the runtime sees it."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for intervals and deadlines)."""
        ...

    def millis(self) -> int:
        """Wall-clock milliseconds since the epoch (what limits and expiries are judged at)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` have passed on this clock."""
        ...


class SystemClock:
    """The real clock."""

    monotonic = staticmethod(time.monotonic)
    millis = staticmethod(wall_clock_ms)

    async def sleep(self, seconds: float) -> None:
        """`asyncio.sleep`."""
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()


async def wait_event(event: asyncio.Event, seconds: float, *, clock: Clock) -> bool:
    """Wait until `event` is set or `seconds` have passed on `clock`; True when it was set."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        timer.cancel()
    return event.is_set()
