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
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from tollway.broadcast import SupervisedBroadcast

logger = logging.getLogger(__name__)

AUDIT_CHANNEL = "tollway.audit"
ALERTS_CHANNEL = "tollway.alerts"
METRICS_CHANNEL = "tollway.metrics"
INVALIDATIONS_CHANNEL = "tollway.invalidations"
SECURITY_CHANNEL = "tollway.security"
INTEGRATIONS_CHANNEL = "tollway.integrations"


def envelope(channel: str, data: dict[str, Any]) -> str:
    """The JSON string published on a channel (broadcaster's Redis backend takes strings only)."""
    return json.dumps(
        {"channel": channel, "at": datetime.now(UTC).isoformat(), "data": data},
        separators=(",", ":"),
        default=str,
    )


MAX_PENDING = 1000
PUBLISH_SECONDS = 2.0
"""A publish that takes longer (a broadcaster mid-reconnect) is given up, as a failed one is:
live subscribers are best effort, and a reconnection makes every instance refresh."""


class SlowSubscriber(Exception):
    """A live subscriber did not keep up and was dropped."""


_shared: dict[str, tuple[SupervisedBroadcast, int]] = {}


async def _acquire_broadcast(url: str) -> SupervisedBroadcast:
    """One connection per URL per process, so in-process publishers and listeners meet."""
    if url in _shared:
        broadcast, users = _shared[url]
        _shared[url] = (broadcast, users + 1)
        return broadcast
    broadcast = SupervisedBroadcast(url)
    _shared[url] = (broadcast, 1)
    await broadcast.start()
    return broadcast


async def _release_broadcast(url: str) -> None:
    broadcast, users = _shared[url]
    if users > 1:
        _shared[url] = (broadcast, users - 1)
        return
    del _shared[url]
    await broadcast.stop()


class EventBus:
    """A handle on the process-wide, supervised broadcaster for `memory://` or `redis://`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._shared: SupervisedBroadcast | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._reconnect_callbacks: list[Callable[[], None]] = []

    @property
    def backend_name(self) -> str:
        """`redis` or `memory`."""
        return "memory" if self.url.startswith("memory") else "redis"

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Run `callback` whenever the connection came back and events may have been
        missed: whatever they keep fresh (cached keys, policies) must be refreshed then."""
        self._reconnect_callbacks.append(callback)

    def _reconnected(self) -> None:
        for callback in self._reconnect_callbacks:
            callback()

    async def connect(self) -> None:
        """Join (or open) the process-wide connection for this URL. It never fails: while
        the broadcaster is unreachable it is retried in the background."""
        if self._shared is None:
            self._shared = await _acquire_broadcast(self.url)
            self._shared.on_reconnect(self._reconnected)

    async def disconnect(self) -> None:
        """Flush pending publishes (each bounded by `PUBLISH_SECONDS`), then close."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=2 * PUBLISH_SECONDS)
        if self._shared is None:
            return
        self._shared.forget(self._reconnected)
        self._shared = None
        await _release_broadcast(self.url)

    def is_listening(self) -> bool:
        """True while connected and the connection's probes come back."""
        return self._shared is not None and self._shared.healthy

    async def publish(self, channel: str, data: dict[str, Any]) -> None:
        """Publish one event; failures are logged, never raised (subscribers are best effort)."""
        broadcast = self._shared.broadcast if self._shared is not None else None
        if broadcast is None:
            return
        try:
            async with asyncio.timeout(PUBLISH_SECONDS):
                await broadcast.publish(channel, envelope(channel, data))
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
        """Yield the `data` of every event published on `channel` from now on, across
        reconnections (events published while disconnected are missed: see `on_reconnect`).

        Events are taken off the broadcaster at once into a queue of `max_pending`; a
        subscriber that falls that far behind (a client that never reads) is dropped with
        `SlowSubscriber` instead of growing memory without bound.
        """
        if self._shared is None:
            raise RuntimeError("event bus is not connected")
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(max_pending)
        overflow = asyncio.Event()
        follower = asyncio.create_task(_follow(self._shared, channel, queue, overflow))
        try:
            while True:
                if overflow.is_set():
                    raise SlowSubscriber(f"subscriber fell {max_pending} events behind")
                data = await queue.get()
                if data is None:
                    return
                yield data
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follower

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


Queue = asyncio.Queue[dict[str, Any] | None]


async def _follow(
    shared: SupervisedBroadcast, channel: str, queue: Queue, overflow: asyncio.Event
) -> None:
    """Feed `queue` from `channel` on every generation of the connection, until it closes."""
    while (current := await shared.current()) is not None:
        broadcast, generation = current
        with contextlib.suppress(Exception):
            async with broadcast.subscribe(channel) as subscriber:
                pump = asyncio.create_task(_pump(subscriber, channel, queue, overflow))
                lost = asyncio.create_task(shared.changed(generation))
                await asyncio.wait({pump, lost}, return_when=asyncio.FIRST_COMPLETED)
                for task in (pump, lost):
                    task.cancel()
        raise_if_cancelled()
        await shared.changed(generation)  # subscribe again on the next connection
    await queue.put(None)


def raise_if_cancelled() -> None:
    """Honour a cancellation that surfaced as another error: cancelled inside
    broadcaster's `subscribe`, its unsubscribe from a lost connection raises a connection
    error in place of the CancelledError, which the caller's suppression then swallows."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _pump(subscriber: Any, channel: str, queue: Queue, overflow: asyncio.Event) -> None:
    async for event in subscriber:
        if event is None:
            return
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
