"""What one process opens once and every part of it shares: the Redis pool, the limit storage
(with its pipelined script connection), the event bus and its change signals.

The composition root (`tollway.app.build_services`) makes one `Connections` and hands it to
the enforcement runtime, the GraphQL services and the worker; a middleware used on its own in
another ASGI app makes its own.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from redis.asyncio import Redis

from tollway.clock import SYSTEM_CLOCK, Clock
from tollway.events import EventBus
from tollway.ratelimit import MemoryStorage
from tollway.ratelimit.base import LimitStorage
from tollway.ratelimit.failover import FailoverStorage, FailureMode
from tollway.ratelimit.redis import RedisStorage
from tollway.redis_client import make_redis
from tollway.settings import Settings
from tollway.signals import Signals


def make_limit_storage(
    settings: Settings, redis: Redis | None, *, clock: Clock = SYSTEM_CLOCK
) -> LimitStorage:
    """Redis counters (falling back as the settings say, retrying Redis by `clock`) when
    Redis is configured, else memory."""
    if redis is None:
        return MemoryStorage()
    primary = RedisStorage(redis, timeout=settings.dependency_timeout_seconds)
    mode = FailureMode(settings.ratelimit_failure_mode)
    return FailoverStorage(primary, mode, clock=clock.monotonic)


@dataclass(frozen=True, slots=True)
class Connections:
    """The process's shared connections; nothing connects until first used or `open`ed."""

    redis: Redis | None
    limits: LimitStorage
    bus: EventBus
    signals: Signals

    @classmethod
    def for_settings(cls, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> Connections:
        """One of each for `settings` (Redis and its storage only when Redis is configured)."""
        redis = make_redis(settings)
        bus = EventBus(settings.broadcast_url)
        return cls(redis, make_limit_storage(settings, redis, clock=clock), bus, Signals(bus))

    async def open(self) -> None:
        """Join the event bus (retried in the background while it is unreachable)."""
        await self.bus.connect()

    async def aclose(self) -> None:
        """Leave the bus, then close the storage's script connection and the Redis pool."""
        await self.bus.disconnect()
        with contextlib.suppress(Exception):
            await self.limits.aclose()
        if self.redis is not None:
            await self.redis.aclose()
