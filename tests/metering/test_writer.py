"""Batch writes, the journal when writes fail, replay, idempotency, bounded memory."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import LiveServer
from tollway.metering.journal import UsageJournal
from tollway.metering.records import UsageRecord
from tollway.metering.sink import write_usage
from tollway.metering.writer import UsageWriter
from tollway.models import UsageEvent


def records(n: int, marker: str) -> list[UsageRecord]:
    now = datetime.now(UTC)
    return [
        UsageRecord(
            event_id=None,
            at=now,
            tenant_id=str(uuid.uuid4()),
            key_id=None,
            method="GET",
            route="/r/{id}",
            path=f"/{marker}/{i}",
            status=200,
            error_code=None,
            latency_ms=1.5,
            request_bytes=0,
            response_bytes=10,
            client_ip="198.51.100.1",
            user_agent="t/1",
            api_version=None,
            cost_units=1,
            cost=Decimal("0.000125") if i % 2 else None,
        )
        for i in range(n)
    ]


async def count(marker: str) -> int:
    return await UsageEvent.filter(path__startswith=f"/{marker}/").count()


class Outage:
    """Writes through the real database, except while `down` (an unreachable database)."""

    def __init__(self) -> None:
        self.down = False

    async def __call__(self, batch: Sequence[UsageRecord], replay: bool) -> int:
        if self.down:
            raise ConnectionRefusedError("database unreachable")
        return await write_usage(batch, replay)


def test_journal_round_trip(tmp_path: Path) -> None:
    journal = UsageJournal(tmp_path / "j")
    original = records(3, "j")
    for record in original:
        record.event_id = uuid.uuid4()
    segment = journal.spill(original)
    assert journal.segments() == [segment]
    assert list(journal.read(segment)) == original
    assert journal.pending() == 3


async def test_batches_are_written(server: LiveServer, tmp_path: Path) -> None:
    writer = UsageWriter(UsageJournal(tmp_path / "j"), batch_size=1000)
    marker = uuid.uuid4().hex
    for record in records(2500, marker):
        writer.add(record)
    await writer.flush()
    assert await count(marker) == 2500
    stored = await UsageEvent.filter(path=f"/{marker}/1").get()
    assert stored.cost == Decimal("0.000125") and stored.route == "/r/{id}"


async def test_an_outage_spills_to_the_journal_and_replays_once(
    server: LiveServer, tmp_path: Path
) -> None:
    outage = Outage()
    journal = UsageJournal(tmp_path / "j")
    writer = UsageWriter(journal, outage, batch_size=100)
    marker = uuid.uuid4().hex
    outage.down = True
    for record in records(250, marker):
        writer.add(record)
    await writer.flush()
    assert writer.buffered == 0 and journal.pending() == 250
    # A copy of a segment stands for a replay that was interrupted after writing.
    segment = journal.segments()[0]
    shutil.copy(segment, segment.with_name("usage-0-copy.jsonl"))
    await writer.flush()  # still down: nothing lost, nothing written
    assert journal.pending() == 500 and await count(marker) == 0
    outage.down = False
    await writer.flush()
    assert journal.segments() == []
    assert await count(marker) == 250  # every event exactly once


async def test_memory_stays_bounded_while_the_database_is_down(
    server: LiveServer, tmp_path: Path
) -> None:
    outage = Outage()
    outage.down = True
    journal = UsageJournal(tmp_path / "j")
    writer = UsageWriter(journal, outage, batch_size=50, max_buffered=200)
    marker = uuid.uuid4().hex
    for record in records(1000, marker):
        writer.add(record)  # no writer task runs: the buffer spills by itself
    assert writer.buffered < 200
    outage.down = False
    await writer.close()
    assert await count(marker) == 1000


async def test_memory_is_bounded_in_bytes_too(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Long paths fill memory long before the event count bound: bytes bound the buffer."""
    monkeypatch.setattr("tollway.metering.writer.MAX_BUFFERED_BYTES", 1024 * 1024)
    outage = Outage()
    outage.down = True
    writer = UsageWriter(UsageJournal(tmp_path / "j"), outage, batch_size=50_000)
    marker = uuid.uuid4().hex
    batch = records(1000, marker)
    for record in batch:
        record.path = f"/{marker}/" + "p" * 1900  # as long as capture keeps them
        writer.add(record)
    assert writer.buffered < 400  # about 1 MiB of these, far below the 100,000 events bound
    outage.down = False
    await writer.close()
    assert await count(marker) == 1000


def test_rows_follow_the_columns() -> None:
    from tollway.metering.records import COLUMNS

    (record,) = records(1, "c")
    record.event_id = uuid.uuid4()
    assert dict(zip(COLUMNS, record.row(), strict=True)) == vars_of(record)
    sqlite = dict(zip(COLUMNS, record.sqlite_row(), strict=True))
    assert sqlite["event_id"] == str(record.event_id) and sqlite["key_id"] is None


def vars_of(record: UsageRecord) -> dict[str, object]:
    from dataclasses import fields

    return {f.name: getattr(record, f.name) for f in fields(record)}
