"""The usage buffer and its writer: the request path appends, a task writes in batches.

Nothing on the request path waits on the database. Every `interval` seconds (or sooner when
a batch fills) the buffer is written; when the database refuses, the batch is spilled to the
journal and replayed once writes succeed again. `close()` flushes everything (or spills it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from tollway.metering.journal import UsageJournal
from tollway.metering.records import (
    MAX_BUFFERED_BYTES,
    RawUsage,
    UsageRecord,
    assign_ids,
    event_size,
    in_slices,
)
from tollway.metering.sink import write_usage

logger = logging.getLogger(__name__)

Sink = Callable[[Sequence[UsageRecord], bool], Awaitable[int]]
"""Writes a batch; the flag says it is a replay (it may have been stored already)."""


async def observe(
    observer: Callable[[Sequence[UsageRecord]], None] | None, batch: Sequence[UsageRecord]
) -> None:
    """Show `observer` a batch slice by slice (a second's traffic at once would hold the
    event loop for milliseconds); its failures are logged, never raised."""
    if observer is None:
        return
    async for part in in_slices(batch):
        try:
            observer(part)
        except Exception:
            logger.exception("usage observer failed")


class FlushLoop(ABC):
    """`_periodic()` (by default `flush()`) every `_interval` seconds, or as soon as `_wake` is
    set, until `_closing`."""

    _interval: float
    _wake: asyncio.Event
    _closing: bool

    @abstractmethod
    async def flush(self) -> None:
        """Write what is buffered."""

    async def _periodic(self) -> None:
        """What the loop does every `_interval` seconds (or when woken): `flush()`."""
        await self.flush()

    async def _flush_loop(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            try:
                await self._periodic()
            except Exception:
                logger.exception("usage flush failed")


class UsageWriter(FlushLoop):
    """Bounded buffer, batch writer, journal spill and replay."""

    def __init__(
        self,
        journal: UsageJournal,
        sink: Sink = write_usage,
        *,
        interval: float = 1.0,
        batch_size: int = 10_000,
        max_buffered: int = 100_000,
        observer: Callable[[Sequence[UsageRecord]], None] | None = None,
        new_ids: bool = False,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        """`new_ids`: events given to `add` with ids already set are first attempts (their
        producer named them), not replays. `on_stored` is told how many events each
        committed write stored, replays included (what wakes the rollups)."""
        self.journal = journal
        self._sink = sink
        self._interval = interval
        self._batch_size = batch_size
        self._max_buffered = max_buffered
        self._new_ids = new_ids
        self.observer = observer
        """Called with each fresh batch as it is flushed (live metrics); never with replays."""
        self.on_stored = on_stored
        self._buffer: list[UsageRecord] = []
        self._buffered_bytes = 0  # as `records.raw_size` counts
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.written = 0
        self.spilled = 0
        self._closing = False
        self._spilling: set[asyncio.Task[None]] = set()

    def add(self, record: UsageRecord) -> None:
        """Queue one event (the hot path: an append)."""
        buffer = self._buffer
        buffer.append(record)
        self._buffered_bytes += event_size(record.path, record.user_agent)
        if len(buffer) >= self._batch_size or self._buffered_bytes >= MAX_BUFFERED_BYTES:
            self._wake.set()
            if len(buffer) >= self._max_buffered or self._buffered_bytes >= MAX_BUFFERED_BYTES:
                # The writer is stuck (database slow or down): keep memory bounded by spilling
                # in the background; the request path never touches the disk.
                self._buffer, self._buffered_bytes = [], 0
                self.spill_later(buffer)

    def add_raw(self, raw: RawUsage) -> None:
        """Queue one event as the request path captures it."""
        self.add(UsageRecord.from_raw(raw))

    def spill_later(self, records: list[UsageRecord]) -> None:
        """Put `records` in the journal from a background task (replayed by the next flush
        of any writer sharing the journal)."""
        self._in_background(self._spill(records))

    def spill_raw_later(self, rows: list[RawUsage], id_base: int = 0, *, first: int = 0) -> None:
        """`spill_later` for events as the request path captures them (made into records in
        the background, slice by slice). With an `id_base`, the nth row's id is
        `UUID(int=id_base | first + n)` (their ids in the usage log), else new ids."""

        async def spill() -> None:
            records: list[UsageRecord] = []
            async for part in in_slices(rows):
                start = first + len(records)
                records += [
                    UsageRecord.from_raw(row, UUID(int=id_base | start + i) if id_base else None)
                    for i, row in enumerate(part)
                ]
            await self._spill(records)

        self._in_background(spill())

    def _in_background(self, spill: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(spill)
        self._spilling.add(task)
        task.add_done_callback(self._spilling.discard)

    async def _spill(self, records: list[UsageRecord]) -> None:
        """Into the journal, from a thread (ids first, so that a replay carries them)."""
        await assign_ids(records)
        await asyncio.to_thread(self.journal.spill, records)
        self.spilled += len(records)

    @property
    def buffered(self) -> int:
        """Events waiting in memory."""
        return len(self._buffer)

    async def run(self) -> None:
        """Flush every `interval` seconds, or as soon as a batch is full, until `close()`."""
        self._closing = False
        await self._flush_loop()

    async def flush(self) -> None:
        """Write what is buffered (spilling it on failure), then replay the journal."""
        async with self._lock:
            if self._spilling:  # the journal is complete before it is replayed
                await asyncio.gather(*self._spilling)
            while self._buffer:
                batch = self._buffer[: self._batch_size]
                del self._buffer[: self._batch_size]
                self._buffered_bytes -= sum([event_size(r.path, r.user_agent) for r in batch])
                await observe(self.observer, batch)
                if not await self._write(batch):  # every record of `batch` has its id now
                    rest, self._buffer, self._buffered_bytes = self._buffer, [], 0
                    await self._spill(batch + rest)
                    return
            await self._replay()

    async def _write(self, batch: Sequence[UsageRecord], replay: bool = False) -> bool:
        fresh = self._new_ids or all(record.event_id is None for record in batch)
        await assign_ids(batch)
        try:
            # Shielded: a cancelled caller must not abandon a write halfway through.
            await asyncio.shield(self._sink(batch, replay or not fresh))
        except Exception as exc:
            logger.warning("usage write failed (%s); spilling %d events", exc, len(batch))
            return False
        self.written += len(batch)
        if self.on_stored is not None:
            self.on_stored(len(batch))
        return True

    async def _replay(self) -> None:
        for segment in self.journal.segments():
            try:
                records = await asyncio.to_thread(self._read_segment, segment)
            except FileNotFoundError:  # another instance replayed it
                continue
            for start in range(0, len(records), self._batch_size):
                if not await self._write(records[start : start + self._batch_size], True):
                    return  # still down: the segment stays for next time
            with contextlib.suppress(FileNotFoundError):
                segment.unlink()
            logger.info("replayed %d usage events from %s", len(records), segment.name)

    def _read_segment(self, segment: Path) -> list[UsageRecord]:
        return list(self.journal.read(segment))

    async def close(self) -> None:
        """Stop `run()` and flush everything; whatever cannot be written is in the journal."""
        self._closing = True
        self._wake.set()
        await self.flush()
