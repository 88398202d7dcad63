"""An append-only spill file for usage events the database could not take (yet).

Events are appended as JSON lines and fsynced, so a crash after `spill` loses nothing; once
replayed into the database the segment is removed. Replays are safe to repeat: writes are
idempotent on `event_id`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tollway.metering.records import UsageRecord

logger = logging.getLogger(__name__)


class UsageJournal:
    """Segments `usage-<ns>.jsonl` under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def spill(self, records: Sequence[UsageRecord]) -> Path:
        """Append `records` to a new segment, durably."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"usage-{time.time_ns()}-{os.getpid()}.jsonl"
        partial = path.with_suffix(".partial")
        with partial.open("w", encoding="utf-8") as handle:
            handle.write("\n".join(r.to_json() for r in records))
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        partial.rename(path)  # a segment is either complete or absent
        return path

    def segments(self) -> list[Path]:
        """Complete segments, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("usage-*.jsonl"))

    def read(self, segment: Path) -> Iterator[UsageRecord]:
        """The records of one segment (a malformed line is logged and skipped)."""
        with segment.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    yield UsageRecord.from_json(line)
                except (ValueError, TypeError):
                    logger.error("skipping malformed usage journal line %s:%d", segment, number)

    def pending(self) -> int:
        """Events waiting in the journal."""
        total = 0
        for segment in self.segments():
            with segment.open(encoding="utf-8") as handle:
                total += sum(1 for line in handle if line.strip())
        return total
