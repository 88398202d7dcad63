"""The live event bus over a real Redis: subscriptions end when asked, even mid-outage."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.clock import until
from tests.servers import RedisServer
from tollway.events import EventBus


async def published_until_received(bus: EventBus, received: list[dict[str, Any]]) -> None:
    """Publish until the listener has one more event (subscribing is asynchronous)."""
    count = len(received)
    while len(received) == count:
        await bus.publish("tollway.test", {"n": count})
        await asyncio.sleep(0.02)


async def test_a_subscriber_cancelled_while_redis_is_down_ends(own_redis: RedisServer) -> None:
    bus = EventBus(own_redis.url)
    await bus.connect()
    received: list[dict[str, Any]] = []

    async def listen() -> None:
        async for data in bus.subscribe("tollway.test"):
            received.append(data)

    listener = asyncio.create_task(listen())
    try:
        async with asyncio.timeout(30):
            await published_until_received(bus, received)
        own_redis.stop()
        await until(lambda: not bus.is_listening(), timeout=30)  # unsubscribing fails now
        listener.cancel()
        done, _ = await asyncio.wait({listener}, timeout=2.0)
        assert done == {listener}, "the cancelled subscriber kept waiting for a reconnection"
    finally:
        listener.cancel()
        await bus.disconnect()
