"""One supervised broadcaster connection per URL per process.

broadcaster's Redis backend never reconnects: once its pub/sub connection drops, nothing
published reaches this process again. `SupervisedBroadcast` watches its own connection with a
probe published on a private channel: when probes stop coming back it drops the connection
and opens a new one, with backoff, until Redis answers. Each new connection (and any gap in
the probes, for a client library that reconnected by itself) starts a new *generation*:
subscribers re-subscribe on it, and callbacks registered with `on_reconnect` run, so that
whatever relied on events missed meanwhile (cached keys, policies) is refreshed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable

from broadcaster import Broadcast

logger = logging.getLogger(__name__)

PROBE_SECONDS = 0.25
"""How often the connection is probed."""
LOST_AFTER_SECONDS = 1.5
"""Probes missing this long: the connection is dropped and opened anew."""
MAX_BACKOFF_SECONDS = 1.0


class SupervisedBroadcast:
    """A `Broadcast` that is kept connected (see the module docstring)."""

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.broadcast: Broadcast | None = None
        self.generation = 0
        self._clock = clock
        self._changed = asyncio.Event()  # set, and replaced, at each new generation
        self._probe_channel = f"tollway.probe.{uuid.uuid4().hex}"
        self._last_probe = 0.0
        self._live: Broadcast | None = None  # the broadcast whose generation has started
        self._missed = False  # a connection failed or was lost: events may have been missed
        self._reconnect_callbacks: list[Callable[[], None]] = []
        self._closed = False
        self._supervisor: asyncio.Task[None] | None = None
        self._prober: asyncio.Task[None] | None = None

    @property
    def healthy(self) -> bool:
        """Connected, and the last probe came back recently."""
        return self.broadcast is not None and (
            self._clock() - self._last_probe < LOST_AFTER_SECONDS
        )

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Run `callback` whenever events may have been missed (a new generation)."""
        self._reconnect_callbacks.append(callback)

    def forget(self, callback: Callable[[], None]) -> None:
        """Stop running `callback` on reconnects."""
        with contextlib.suppress(ValueError):
            self._reconnect_callbacks.remove(callback)

    async def start(self) -> None:
        """Connect (or keep trying in the background) and start supervising. A URL no
        backend understands raises ValueError at once."""
        Broadcast(self.url)  # validates the URL; connects nothing
        try:
            await asyncio.wait_for(self._connect(), timeout=2.0)
        except Exception as exc:
            logger.warning("live events unavailable (%s); retrying in the background", exc)
            await self._drop()
        self._supervisor = asyncio.create_task(self._supervise(), name="tollway-broadcast")

    async def stop(self) -> None:
        """Stop supervising and close the connection."""
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._supervisor
        self._closed = True
        await self._drop()
        self._changed.set()  # wake whoever waits for a connection: there will be none

    async def changed(self, generation: int) -> None:
        """Wait until the generation is no longer `generation` (or the connection is closed)."""
        while self.generation == generation and not self._closed:
            await self._changed.wait()

    async def current(self) -> tuple[Broadcast, int] | None:
        """The connected broadcast and its generation, once there is one; None once closed."""
        while self._live is None:
            if self._closed:
                return None
            await self.changed(self.generation)
        return self._live, self.generation

    async def _connect(self) -> None:
        broadcast = Broadcast(self.url)
        await broadcast.connect()
        self.broadcast = broadcast
        self._prober = asyncio.create_task(self._receive_probes(broadcast))
        # The first probe to come back starts the generation (subscribing is asynchronous).
        started = self._clock()
        while self._last_probe < started:
            await broadcast.publish(self._probe_channel, "probe")
            await asyncio.sleep(0.02)
        self._live = broadcast
        self._new_generation()

    async def _receive_probes(self, broadcast: Broadcast) -> None:
        with contextlib.suppress(Exception):
            async with broadcast.subscribe(self._probe_channel) as subscriber:
                while True:
                    await subscriber.get()  # raises Unsubscribed at the end
                    now = self._clock()
                    gap = now - self._last_probe
                    self._last_probe = now
                    if self._live is broadcast and gap > 3 * PROBE_SECONDS:
                        # Probes went missing and came back: events may have been lost.
                        self._missed = True
                        self._new_generation()

    def _new_generation(self) -> None:
        self.generation += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        if not self._missed:
            return
        self._missed = False
        logger.warning("live events reconnected (%s); refreshing what they keep fresh", self.url)
        for callback in self._reconnect_callbacks:
            try:
                callback()
            except Exception:
                logger.exception("reconnect callback failed")

    async def _supervise(self) -> None:
        backoff = 0.05
        while True:
            await asyncio.sleep(PROBE_SECONDS if self.broadcast is not None else backoff)
            if self.broadcast is None:
                try:
                    await asyncio.wait_for(self._connect(), timeout=LOST_AFTER_SECONDS)
                    backoff = 0.05
                except Exception:
                    await self._drop()
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.broadcast.publish(self._probe_channel, "probe"), 1.0)
            if self._clock() - self._last_probe >= LOST_AFTER_SECONDS:
                logger.warning("live events lost their connection (%s); reconnecting", self.url)
                await self._drop()

    async def _drop(self) -> None:
        self._missed = True
        self._live = None
        broadcast, self.broadcast = self.broadcast, None
        if self._prober is not None:
            self._prober.cancel()
            self._prober = None
        if broadcast is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(broadcast.disconnect(), timeout=1.0)
