"""Live events: broadcaster channels and the JSON envelope published on them.

The broadcaster is fan-out for live subscribers, never a delivery guarantee: whatever is
published here has been stored first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from broadcaster import Broadcast

logger = logging.getLogger(__name__)

AUDIT_CHANNEL = "tollway.audit"
ALERTS_CHANNEL = "tollway.alerts"
METRICS_CHANNEL = "tollway.metrics"
INVALIDATIONS_CHANNEL = "tollway.invalidations"
SECURITY_CHANNEL = "tollway.security"


def envelope(channel: str, data: dict[str, Any]) -> str:
    """The JSON string published on a channel (broadcaster's Redis backend takes strings only)."""
    return json.dumps(
        {"channel": channel, "at": datetime.now(UTC).isoformat(), "data": data},
        separators=(",", ":"),
        default=str,
    )


MAX_PENDING = 1000


class SlowSubscriber(Exception):
    """A live subscriber did not keep up and was dropped."""


_shared: dict[str, tuple[Broadcast, int]] = {}


async def _acquire_broadcast(url: str) -> Broadcast:
    """One Broadcast per URL per process, so in-process publishers and listeners meet."""
    if url in _shared:
        broadcast, users = _shared[url]
        _shared[url] = (broadcast, users + 1)
        return broadcast
    broadcast = Broadcast(url)
    await broadcast.connect()
    _shared[url] = (broadcast, 1)
    return broadcast


async def _release_broadcast(url: str) -> None:
    broadcast, users = _shared[url]
    if users > 1:
        _shared[url] = (broadcast, users - 1)
        return
    del _shared[url]
    with contextlib.suppress(Exception):
        await broadcast.disconnect()


class EventBus:
    """A handle on the process-wide broadcaster for `memory://` or `redis://`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._broadcast: Broadcast | None = None
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def backend_name(self) -> str:
        """`redis` or `memory`."""
        return "memory" if self.url.startswith("memory") else "redis"

    async def connect(self) -> None:
        """Join (or open) the process-wide broadcaster for this URL."""
        if self._broadcast is None:
            self._broadcast = await _acquire_broadcast(self.url)

    async def disconnect(self) -> None:
        """Flush pending publishes, then close."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._broadcast is None:
            return
        self._broadcast = None
        await _release_broadcast(self.url)

    def is_listening(self) -> bool:
        """True while connected and the listener task is alive."""
        task = getattr(self._broadcast, "_listener_task", None)
        return task is not None and not task.done()

    async def publish(self, channel: str, data: dict[str, Any]) -> None:
        """Publish one event; failures are logged, never raised (subscribers are best effort)."""
        if self._broadcast is None:
            return
        try:
            await self._broadcast.publish(channel, envelope(channel, data))
        except Exception:
            logger.warning("could not publish on %s", channel, exc_info=True)

    def publish_later(self, channel: str, data: dict[str, Any]) -> None:
        """Publish without making the caller wait."""
        task = asyncio.get_running_loop().create_task(self.publish(channel, data))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def subscribe(
        self, channel: str, max_pending: int = MAX_PENDING
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield the `data` of every event published on `channel` from now on.

        Events are taken off the broadcaster at once into a queue of `max_pending`; a
        subscriber that falls that far behind (a client that never reads) is dropped with
        `SlowSubscriber` instead of growing memory without bound.
        """
        if self._broadcast is None:
            raise RuntimeError("event bus is not connected")
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(max_pending)
        overflow = asyncio.Event()

        async def pump(subscriber: Any) -> None:
            async for event in subscriber:
                if event is None:
                    break
                try:
                    data = json.loads(event.message)["data"]
                except (ValueError, KeyError, TypeError):
                    logger.warning("dropping malformed event on %s", channel)
                    continue
                if overflow.is_set():
                    continue  # keep draining: the broadcaster's queue must not grow either
                try:
                    queue.put_nowait(data)
                except asyncio.QueueFull:
                    overflow.set()
            await queue.put(None)

        async with self._broadcast.subscribe(channel) as subscriber:
            task = asyncio.create_task(pump(subscriber))
            try:
                while True:
                    if overflow.is_set():
                        raise SlowSubscriber(f"subscriber fell {max_pending} events behind")
                    data = await queue.get()
                    if data is None:
                        return
                    yield data
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def round_trip_ms(self, limit_seconds: float) -> float:
        """Publish a probe and wait for it to come back; the latency in ms."""
        started = time.perf_counter()
        channel = f"tollway.probe.{id(self)}"
        probe = {"probe": started}

        async def _receive() -> None:
            async for data in self.subscribe(channel):
                if data == probe:
                    return

        async with asyncio.timeout(limit_seconds):
            receiver = asyncio.create_task(_receive())
            await asyncio.sleep(0)
            # Publish until the subscription is in place (Redis SUBSCRIBE is asynchronous).
            while not receiver.done():
                await self.publish(channel, probe)
                await asyncio.wait({receiver}, timeout=0.05)
            await receiver
        return (time.perf_counter() - started) * 1000
