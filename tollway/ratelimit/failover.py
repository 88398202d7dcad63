"""Redis with a local fallback: fail open onto memory (limits hold per instance) or closed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from enum import StrEnum

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tollway.ratelimit.base import LimitStorage
from tollway.ratelimit.memory import MemoryStorage
from tollway.ratelimit.types import Check, Lease, StorageAnswer

logger = logging.getLogger(__name__)

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)


class FailureMode(StrEnum):
    """What to do when Redis cannot be reached."""

    OPEN = "open"
    CLOSED = "closed"


class LimiterUnavailable(Exception):
    """Redis is down and the failure mode is `closed`."""


class FailoverStorage:
    """Uses `primary` while it answers; after a failure, retries it every `retry_seconds`
    of `clock` (monotonic seconds)."""

    def __init__(
        self,
        primary: LimitStorage,
        mode: FailureMode,
        *,
        retry_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = MemoryStorage()
        self.mode = mode
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._down_until = 0.0
        self.name = primary.name

    @property
    def degraded(self) -> bool:
        """True while the primary is considered down."""
        return self._down_until > self._clock()

    async def apply(
        self,
        checks: Sequence[Check],
        cost: int,
        *,
        now_ms: int,
        reserve: int = 0,
        lease: Lease | None = None,
        final: bool = False,
    ) -> StorageAnswer:
        """Primary when up; otherwise the failure mode decides."""
        if not self.degraded:
            try:
                return await self.primary.apply(
                    checks, cost, now_ms=now_ms, reserve=reserve, lease=lease, final=final
                )
            except UNAVAILABLE as exc:
                logger.warning("rate-limit storage unreachable (%s); failing %s", exc, self.mode)
                self._down_until = self._clock() + self._retry_seconds
        if self.mode is FailureMode.CLOSED:
            raise LimiterUnavailable("rate-limit storage unreachable")
        return await self.fallback.apply(
            checks, cost, now_ms=now_ms, reserve=reserve, lease=lease, final=final
        )

    async def reset(self) -> None:
        """Reset both."""
        await self.fallback.reset()
        await self.primary.reset()

    async def aclose(self) -> None:
        """Close the primary."""
        await self.primary.aclose()
