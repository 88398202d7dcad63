"""A write-ahead log of usage events, so that killing a server loses none of them.

The request path appends each event to this process's log file with one `write(2)` before
the response's last byte is sent: from then on the event is in the kernel's page cache,
which outlives the process (not the machine). The usage writer ships events on as before
and, once every event of a log file is stored (or in the fsynced journal), deletes the file.
Files are rotated every `ROTATE_SECONDS` at a shipment. Each process holds an exclusive
`flock` on its open file; a file whose lock can be taken belongs to no live writer, and a
writer starting up replays such files. Event ids follow from the file's id and the event's
place in it (`usage_process.event_id`), so a replay stores each event exactly once whatever
was stored before the kill.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import marshal
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from tollway.metering.records import RawUsage

logger = logging.getLogger(__name__)

ROTATE_SECONDS = 1.0
PREFIX, SUFFIX = "wal-", ".log"


class Orphan(NamedTuple):
    """A log file no live writer holds, and the events in it."""

    path: Path
    file_id: bytes
    rows: list[RawUsage]


class UsageWal:
    """This process's log file (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.file_id = b""
        self.next_index = 0  # the place of the next event in the file
        self._fd = -1
        self._path = directory
        self._opened = 0.0
        self._sealed: list[Path] = []

    def open(self) -> None:
        """Start a new file (the previous one, if any, is sealed)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._fd >= 0:
            os.close(self._fd)  # releases its lock: a replay of it would store nothing twice
            self._sealed.append(self._path)
        self.file_id = os.urandom(12)
        self._path = self.directory / f"{PREFIX}{self.file_id.hex()}{SUFFIX}"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.next_index = 0
        self._opened = time.monotonic()

    def append(self, raw: RawUsage) -> None:
        """Log one event (the hot path: one `write(2)`)."""
        data = marshal.dumps(raw)
        os.write(self._fd, len(data).to_bytes(4, "big") + data)
        self.next_index += 1

    def rotate_if_due(self) -> None:
        """Seal the file once it is `ROTATE_SECONDS` old (call right after a shipment took
        everything logged so far)."""
        if time.monotonic() - self._opened >= ROTATE_SECONDS:
            self.open()

    def stored(self) -> None:
        """Everything logged in sealed files is stored: delete them."""
        for path in self._sealed:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._sealed.clear()

    def close(self) -> None:
        """Everything logged is stored (a clean shutdown): delete every file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self._sealed.append(self._path)
        self.stored()


def orphans(directory: Path) -> Iterator[Orphan]:
    """Log files no live writer holds, oldest first, with their events (a torn last record,
    from a write the kill cut short, is left out: its response was never sent)."""
    if not directory.is_dir():
        return
    files = sorted(directory.glob(f"{PREFIX}*{SUFFIX}"), key=lambda p: p.stat().st_mtime)
    for path in files:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer's
            data = os.read(fd, path.stat().st_size)
        finally:
            os.close(fd)
        file_id = bytes.fromhex(path.name[len(PREFIX) : -len(SUFFIX)])
        yield Orphan(path, file_id, list(_records(data)))


def _records(data: bytes) -> Iterator[RawUsage]:
    offset = 0
    while offset + 4 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        if offset + 4 + size > len(data):
            return
        yield marshal.loads(data[offset + 4 : offset + 4 + size])  # noqa: S302 (our own file)
        offset += 4 + size
