"""Usage writing in a process of its own, so the serving event loop spends no CPU on it.

Encoding and inserting a usage event costs more than enforcing the request it describes
(about 24 µs on SQLite, 9 µs with PostgreSQL's COPY), all of it on the event loop that serves
requests. `UsageProcessWriter` keeps only the buffer on the request path: each flush encodes
the batch compactly (marshal) and pipes it to a child process (`python -m
tollway.metering.usage_process`), which runs the ordinary `UsageWriter` (batching, journal
spill and replay) on its own core.

Frames on the child's stdin: one kind byte, four bytes of big-endian length, the payload.
  b"B": a marshalled list of rows (`encode`); b"F": write everything received, then answer
  one line on stdout. End of input: write everything and exit.

Event ids are assigned before a batch leaves, so if the child dies mid-batch the parent
writes the batch itself and the database's unique event id drops what was stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import marshal
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from tollway.metering.journal import UsageJournal
from tollway.metering.records import UsageRecord
from tollway.metering.writer import FlushLoop, UsageWriter, observe
from tollway.settings import Settings

logger = logging.getLogger(__name__)

BATCH, FLUSH = b"B", b"F"
START_SECONDS = 30.0
STOP_SECONDS = 60.0
SLICE = 500
MAX_BUFFERED = 100_000
Row = tuple[Any, ...]


def encode(record: UsageRecord, event_id: bytes) -> Row:
    """A record as marshal-able values (ids as 16 bytes, the time as epoch seconds)."""
    return (
        event_id, record.at.timestamp(), record.tenant_id, record.key_id, record.method,
        record.route, record.path, record.status, record.error_code, record.latency_ms,
        record.request_bytes, record.response_bytes, record.client_ip, record.user_agent,
        record.api_version, record.cost_units, record.service, record.units, record.unit_type,
        None if record.cost is None else str(record.cost),
    )  # fmt: skip


def decode(row: Row) -> UsageRecord:
    """`encode` reversed."""
    event_id, at, *middle, cost = row
    values: Row = (
        UUID(bytes=event_id, version=4),
        datetime.fromtimestamp(at, UTC),
        *middle,
        None if cost is None else Decimal(cost),
    )
    return UsageRecord(*values)


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    """One frame of the pipe protocol."""
    return kind + len(payload).to_bytes(4, "big") + payload


class UsageProcessWriter(FlushLoop):
    """The request path's usage buffer, written by a child process (or, while there is none,
    by an in-process `UsageWriter`). Same interface as `UsageWriter`."""

    def __init__(
        self,
        settings: Settings,
        *,
        interval: float = 0.1,
        batch_size: int = 10_000,
        observer: Callable[[Sequence[UsageRecord]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.inline = UsageWriter(
            UsageJournal(settings.state_dir / "usage-journal"),
            anonymize_ips=settings.usage_anonymize_ips,
        )
        self.observer = observer
        """Called with each batch as it leaves (live metrics)."""
        self._interval = interval
        self._batch_size = batch_size
        self._buffer: list[UsageRecord] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._process: asyncio.subprocess.Process | None = None
        self._closing = False

    def add(self, record: UsageRecord) -> None:
        """Queue one event (the hot path: an append)."""
        buffer = self._buffer
        buffer.append(record)
        if len(buffer) >= self._batch_size:
            self._wake.set()
            if len(buffer) >= MAX_BUFFERED:  # the child cannot keep up: to the journal
                self._buffer = []
                self.inline.spill_later(buffer)

    @property
    def process_id(self) -> int | None:
        """The child's pid while it is writing, else None (writing in this process)."""
        return None if self._process is None else self._process.pid

    @property
    def buffered(self) -> int:
        """Events waiting in memory."""
        return len(self._buffer) + self.inline.buffered

    async def start(self) -> None:
        """Start the child (`run()` does); until it is ready, or if it cannot start, events
        are written in this process."""
        environment = {
            **os.environ,
            "TOLLWAY_DATABASE_URL": self.settings.database_url,
            "TOLLWAY_STATE_DIR": str(self.settings.state_dir),
            "TOLLWAY_USAGE_ANONYMIZE_IPS": str(self.settings.usage_anonymize_ips).lower(),
        }
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", __name__, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, env=environment,
            )  # fmt: skip
            assert process.stdout is not None
            async with asyncio.timeout(START_SECONDS):
                ready = await process.stdout.readline()
            if ready != b"ready\n":
                raise RuntimeError(f"the usage writer process exited ({process.returncode})")
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError, UnboundLocalError):
                process.kill()
            raise
        except Exception as exc:
            logger.warning("usage writer process unavailable (%s); writing in-process", exc)
            return
        if self._closing:  # closed while starting
            await _finish(process)
            return
        self._process = process

    async def run(self) -> None:
        """Start the child, then ship every `interval` seconds, or as soon as a batch is
        full, until `close()`."""
        self._closing = False
        await self.start()
        await self._flush_loop()

    async def flush(self) -> None:
        """Everything buffered so far is written when this returns."""
        await self._ship()

    async def _ship(self) -> None:
        """Send what is buffered and wait until the child has written it. Until then the
        rows are kept here: if the child dies, this process writes them (the event ids
        drop whatever the child stored already)."""
        async with self._lock:
            unconfirmed: list[Row] = []
            while self._buffer:
                batch = self._buffer[: self._batch_size]
                del self._buffer[: self._batch_size]
                await observe(self.observer, batch)
                rows = await _encode_all(batch)
                unconfirmed += rows
                await self._send(rows)
            if not await self._confirm() and unconfirmed:
                for row in unconfirmed:
                    self.inline.add(decode(row))
            await self.inline.flush()

    async def _send(self, rows: list[Row]) -> None:
        process = self._process
        if process is None or process.stdin is None:
            return
        try:
            for start in range(0, len(rows), SLICE):
                process.stdin.write(frame(BATCH, marshal.dumps(rows[start : start + SLICE])))
            await process.stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            self._lost(exc)

    async def _confirm(self) -> bool:
        """Ask the child to write everything it has; True once it says it did."""
        process = self._process
        if process is None or process.stdin is None or process.stdout is None:
            return False
        try:
            process.stdin.write(frame(FLUSH))
            await process.stdin.drain()
            if await process.stdout.readline() == b"flushed\n":
                return True
            raise ConnectionError("the usage writer process exited")
        except (ConnectionError, RuntimeError) as exc:
            self._lost(exc)
        return False

    def _lost(self, exc: BaseException) -> None:
        logger.warning("usage writer process lost (%s); writing in-process", exc)
        self._process = None

    async def close(self) -> None:
        """Stop `run()`, ship everything and let the child write it and exit."""
        self._closing = True
        self._wake.set()
        await self._ship()
        process, self._process = self._process, None
        if process is not None:
            await _finish(process)
        await self.inline.close()


async def _encode_all(batch: list[UsageRecord]) -> list[Row]:
    """Every record encoded with a fresh event id, in slices (requests are served between)."""
    entropy = os.urandom(16 * len(batch))
    rows: list[Row] = []
    for start in range(0, len(batch), SLICE):
        part = batch[start : start + SLICE]
        rows += [
            encode(r, entropy[16 * (start + i) : 16 * (start + i + 1)]) for i, r in enumerate(part)
        ]
        await asyncio.sleep(0)
    return rows


async def _finish(process: asyncio.subprocess.Process) -> None:
    """Close the child's input and wait for it to write everything and exit."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        async with asyncio.timeout(STOP_SECONDS):
            await process.wait()
    except TimeoutError:
        logger.error("usage writer process did not finish; killing it")
        process.kill()


async def _child() -> None:
    """The child: read frames from stdin, write them with a `UsageWriter`."""
    from tollway.db import acquire_database, release_database
    from tollway.settings import load_settings

    # Background work: when cores are scarce, serving requests comes first.
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    settings = load_settings()
    await acquire_database(settings)
    writer = UsageWriter(
        UsageJournal(settings.state_dir / "usage-journal"),
        anonymize_ips=settings.usage_anonymize_ips,
        new_ids=True,  # the parent names events; a batch from the pipe is a first attempt
    )
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**31)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    out.write(b"ready\n")
    out.flush()
    runner = asyncio.create_task(writer.run())
    try:
        while True:
            try:
                head = await reader.readexactly(5)
                payload = await reader.readexactly(int.from_bytes(head[1:], "big"))
            except asyncio.IncompleteReadError:
                return  # the parent closed the pipe: done
            if head[:1] == BATCH:
                for row in marshal.loads(payload):  # noqa: S302 (only from our parent)
                    writer.add(decode(row))
            else:
                await writer.flush()
                out.write(b"flushed\n")
                out.flush()
    finally:
        await writer.close()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await release_database()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_child())
