"""Change signals: what background jobs wait for instead of polling the database.

A topic is a count that only grows. `announce` bumps it here and, through the event bus, on
every instance; a reconnection of the bus bumps every topic (announcements may have been
missed meanwhile). A job notes the counts before it runs and, once it has nothing left to do,
waits for any of its topics to move past them, or for its idle limit as a safety net.

Announcements are coalesced: within `COALESCE_SECONDS` of the last one published, another
is published at the end of that time instead, so every announcement is followed by a
publication at or after it and a busy writer costs one tiny message per topic a quarter
second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum

from tollway.clock import SYSTEM_CLOCK, Clock, wait_event
from tollway.events import AUDIT_CHANNEL, SECURITY_CHANNEL, EventBus

logger = logging.getLogger(__name__)

SIGNALS_CHANNEL = "tollway.signals"
COALESCE_SECONDS = 0.25


class Topic(StrEnum):
    """What changed."""

    USAGE = "usage"
    """Usage events were stored."""
    SECURITY = "security"
    """Security events (denials) were stored."""
    CONFIG = "config"
    """An audited change: keys, plans, rules, budgets, endpoints, prices."""
    WEBHOOKS = "webhooks"
    """Webhook messages were queued."""


Counts = Mapping[Topic, int]


class Pace(Enum):
    """What a job run by the worker with a `Wake` reports after a run."""

    BUSY = "busy"
    """More to do soon: run again after the interval."""
    IDLE = "idle"
    """Nothing to do until something changes: wait for a signal."""


class Signals:
    """The counts of every topic in this process, kept in step with the other instances."""

    def __init__(self, bus: EventBus | None = None, *, clock: Clock = SYSTEM_CLOCK) -> None:
        """`clock`: what `wait` measures its limit by."""
        self.bus = bus
        self._clock = clock
        self._counts: dict[Topic, int] = dict.fromkeys(Topic, 0)
        self._moved = asyncio.Event()
        self._last_published: dict[Topic, float] = {}
        self._scheduled: set[Topic] = set()
        self._listeners: list[asyncio.Task[None]] = []
        if bus is not None:
            bus.on_reconnect(self.bump_all)

    def counts(self, topics: Iterable[Topic] = tuple(Topic)) -> dict[Topic, int]:
        """The current counts of `topics`."""
        return {topic: self._counts[topic] for topic in topics}

    def moved(self, since: Counts) -> bool:
        """True when any topic of `since` has moved past its count there."""
        return any(self._counts[topic] > count for topic, count in since.items())

    def bump(self, topic: Topic) -> None:
        """Count a change in this process only."""
        self._counts[topic] += 1
        self._moved.set()
        self._moved = asyncio.Event()

    def bump_all(self) -> None:
        """Anything may have changed (the bus came back after a gap)."""
        for topic in Topic:
            self.bump(topic)

    def announce(self, topic: Topic) -> None:
        """Count a change here and on every other instance."""
        self.bump(topic)
        if self.bus is None or topic in self._scheduled:
            return
        wait = self._last_published.get(topic, 0.0) + COALESCE_SECONDS - time.monotonic()
        self._scheduled.add(topic)
        asyncio.get_running_loop().call_later(max(wait, 0.0), self._publish, topic)

    def _publish(self, topic: Topic) -> None:
        self._scheduled.discard(topic)
        self._last_published[topic] = time.monotonic()
        if self.bus is not None:
            self.bus.publish_later(SIGNALS_CHANNEL, {"topic": topic.value})

    async def wait(self, since: Counts, seconds: float) -> bool:
        """Wait until a topic of `since` moves past its count, at most `seconds`; True if
        one did."""
        deadline = self._clock.monotonic() + seconds
        while not self.moved(since):
            left = deadline - self._clock.monotonic()
            if left <= 0:
                return False
            await wait_event(self._moved, left, clock=self._clock)
        return True

    def start(self) -> None:
        """Follow the other instances' announcements (needs a connected bus). Audit entries
        and security events, published once stored, count as CONFIG and SECURITY."""
        if self.bus is None or self._listeners:
            return
        channels = {SIGNALS_CHANNEL: None, AUDIT_CHANNEL: Topic.CONFIG,
                    SECURITY_CHANNEL: Topic.SECURITY}  # fmt: skip
        self._listeners = [
            asyncio.create_task(self._listen(self.bus, channel, topic), name=f"signals {channel}")
            for channel, topic in channels.items()
        ]

    async def stop(self) -> None:
        """Stop following."""
        for listener in self._listeners:
            listener.cancel()
        await asyncio.gather(*self._listeners, return_exceptions=True)
        self._listeners = []

    async def _listen(self, bus: EventBus, channel: str, topic: Topic | None) -> None:
        while True:
            try:
                async for data in bus.subscribe(channel, max_pending=10_000):
                    if topic is not None:
                        self.bump(topic)
                        continue
                    with contextlib.suppress(ValueError):
                        self.bump(Topic(data.get("topic", "")))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("signal listener on %s failed; resubscribing", channel)
                self.bump_all()
            await asyncio.sleep(1.0)


@dataclass(frozen=True, slots=True)
class Wake:
    """How an idle job waits: until one of `topics` moves, at most `idle_seconds`."""

    signals: Signals
    topics: tuple[Topic, ...]
    idle_seconds: float
