"""Both limiter backends, so every rate-limit test runs against each."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.servers import RedisServer
from tollway.ratelimit.memory import MemoryStorage
from tollway.ratelimit.redis import RedisStorage


class FakeClock:
    """A controllable millisecond clock."""

    def __init__(self, start_ms: int = 1_800_000_000_000) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture(params=["memory", "redis"])
async def storage(
    request: pytest.FixtureRequest,
) -> AsyncIterator[MemoryStorage | RedisStorage]:
    if request.param == "memory":
        yield MemoryStorage()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    client = Redis.from_url(server.url)
    store = RedisStorage(client)
    await store.reset()
    yield store
    await store.reset()
    await store.aclose()
    await client.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
