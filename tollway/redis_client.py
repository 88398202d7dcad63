"""The Redis client used for rate limits and health, and its start-up check."""

from __future__ import annotations

import asyncio
import itertools
import os

from redis.asyncio import Redis

from tollway.errors import ConfigurationError
from tollway.settings import Settings, describe_address

_POOLS = itertools.count(1)


def make_redis(settings: Settings) -> Redis | None:
    """A Redis client for the configured URL (it connects lazily), or None when embedded.

    Its connections are named `tollway:<pid>:<n>` (the n-th pool of the process), and the
    limit storage's script connection `…:limits`, so `CLIENT LIST` shows who holds what."""
    if settings.redis_url is None:
        return None
    timeout = settings.dependency_timeout_seconds
    return Redis.from_url(
        settings.redis_url,
        client_name=f"tollway:{os.getpid()}:{next(_POOLS)}",
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=5,
        max_connections=200,
    )


async def check_redis(settings: Settings, redis: Redis | None) -> None:
    """Raise a one-line ConfigurationError when the configured Redis does not answer."""
    if redis is None or settings.redis_url is None:
        return
    try:
        async with asyncio.timeout(max(settings.dependency_timeout_seconds, 3.0)):
            await redis.ping()  # type: ignore[misc]
    except Exception as exc:
        detail = str(exc) or type(exc).__name__
        raise ConfigurationError(
            f"TOLLWAY_REDIS_URL: cannot reach Redis at {describe_address(settings.redis_url)} "
            f"({detail})"
        ) from exc
