"""Usage written by a child process: everything arrives once, even when the child dies."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.clock import ManualClock
from tests.conftest import LiveServer
from tests.metering.test_writer import count, records
from tollway.metering.records import UsageRecord
from tollway.metering.usage_process import (
    PUBLISH_SECONDS,
    RESTART_SECONDS,
    UsageProcessWriter,
    decode,
    event_id,
)
from tollway.models import UsageEvent
from tollway.settings import Settings


async def test_the_child_writes_what_the_request_path_buffers(server: LiveServer) -> None:
    summaries: list[dict[str, Any]] = []
    writer = UsageProcessWriter(server.settings, summaries=summaries.extend)
    await writer.start()
    try:
        assert writer.process_id is not None and writer.process_id != os.getpid()
        marker = uuid.uuid4().hex
        for record in records(1200, marker):
            writer.add(record)
        await writer.flush()
        assert await count(marker) == 1200
        # The child summarised every event it wrote for live metrics.
        assert sum(group["n"] for group in summaries) == 1200
        stored = await UsageEvent.filter(path=f"/{marker}/1").get()
        assert stored.route == "/r/{id}" and str(stored.cost) == "0.000125"
        assert stored.client_ip == "198.51.100.1" and stored.latency_ms == 1.5
    finally:
        await writer.close()


async def test_a_running_writer_ships_steadily_and_publishes_summaries_in_bulk(
    server: LiveServer,
) -> None:
    """Traffic is written in small shipments as it comes (no flush asked for), while the
    live-metrics summaries of those shipments are gathered and published a few times a
    second rather than once per shipment."""
    published: list[list[dict[str, Any]]] = []
    writer = UsageProcessWriter(server.settings, summaries=published.append)
    runner = asyncio.create_task(writer.run())
    try:
        marker = uuid.uuid4().hex
        for _ in range(40):  # 0.4 s of traffic
            for record in records(25, marker):
                writer.add(record)
            await asyncio.sleep(0.01)
        for _ in range(100):
            if await count(marker) == 1000:
                break
            await asyncio.sleep(0.05)
        assert await count(marker) == 1000
        await writer.flush()  # publishes what is gathered
        assert sum(group["n"] for summary in published for group in summary) == 1000
        assert len(published) <= 0.4 / PUBLISH_SECONDS + 5
    finally:
        await writer.close()
        await runner


async def test_close_writes_everything_and_ends_the_child(server: LiveServer) -> None:
    writer = UsageProcessWriter(server.settings)
    await writer.start()
    pid = writer.process_id
    marker = uuid.uuid4().hex
    for record in records(300, marker):
        writer.add(record)
    await writer.close()
    assert await count(marker) == 300
    assert pid is not None and writer.process_id is None


async def test_a_dead_child_loses_nothing_and_duplicates_nothing(server: LiveServer) -> None:
    writer = UsageProcessWriter(server.settings)
    await writer.start()
    try:
        marker = uuid.uuid4().hex
        batch = records(400, marker)
        for record in batch[:200]:
            writer.add(record)
        await writer.flush()
        assert writer.process_id is not None
        os.kill(writer.process_id, signal.SIGKILL)
        for record in batch[200:]:
            writer.add(record)
        await writer.flush()  # written in this process now
        assert writer.process_id is None
        assert await count(marker) == 400
    finally:
        await writer.close()


def test_raw_events_carry_every_field() -> None:
    for record in records(3, "raw"):
        record.event_id = uuid.uuid4()
        assert UsageRecord.from_raw(record.raw(), record.event_id) == record


def test_postgres_deployments_write_usage_from_a_child_by_default() -> None:
    postgres = Settings(database_url="postgres://u@127.0.0.1:5432/db")
    assert postgres.usage_in_process
    assert not Settings(database_url="sqlite://./x.db").usage_in_process  # one writer per file
    assert not postgres.model_copy(update={"usage_writer": "inline"}).usage_in_process


def test_event_ids_are_version_4_uuids_of_the_batch_and_the_index() -> None:
    """Ids keep their form (journals, usage logs and a parent's re-write of a dead child's
    batch rely on them): the batch's first 12 bytes, then the event's place in its log file,
    with version 4 bits."""
    batch_id = os.urandom(12)
    rows = [record.raw() for record in records(3, "ids")]
    ids = [record.event_id for record in decode((batch_id, 7, rows))]
    expected = [uuid.UUID(bytes=batch_id + (7 + i).to_bytes(4, "big"), version=4) for i in range(3)]
    assert ids == expected == [event_id(batch_id, 7 + i) for i in range(3)]
    assert all(i is not None and i.version == 4 for i in ids)


async def test_a_dead_child_is_replaced(server: LiveServer) -> None:
    """Supervised: after the child is killed a new one takes over (after RESTART_SECONDS),
    so the serving loop writes to the database only meanwhile."""
    clock = ManualClock()
    writer = UsageProcessWriter(server.settings, clock=clock)
    running = asyncio.create_task(writer.run())
    try:
        while writer.process_id is None:
            await asyncio.sleep(0.05)
        first = writer.process_id
        os.kill(first, signal.SIGKILL)
        marker = uuid.uuid4().hex
        batch = records(300, marker)
        for record in batch[:100]:
            writer.add(record)
        await writer.flush()  # the loss is noticed: written in this process
        await clock.advance(RESTART_SECONDS)
        async with asyncio.timeout(30):
            while writer.process_id in (None, first):
                await asyncio.sleep(0.05)
        for record in batch[100:]:
            writer.add(record)
        await writer.flush()
        assert writer.process_id not in (None, first)  # the new child wrote them
        assert await count(marker) == 300
    finally:
        await writer.close()
        await running


async def test_a_killed_writers_log_is_stored_exactly_once_past_the_buffer_bound(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the buffer bound events also go to the journal, under their log ids: a replay
    of the log after a kill stores each event once, journalled or not."""
    monkeypatch.setattr("tollway.metering.usage_process.MAX_BUFFERED", 100)
    settings = server.settings.model_copy(update={"state_dir": tmp_path})
    killed = UsageProcessWriter(settings, batch_size=50)  # no child: nothing is shipped
    marker = uuid.uuid4().hex
    for record in records(250, marker):
        killed.add(record)  # 200 spilled to the journal past the bound, 50 left in memory
    await asyncio.gather(*killed.inline._spilling)
    os.close(killed.wal._fd)  # killed: its lock goes, its log stays
    restarted = UsageProcessWriter(settings)
    try:
        assert await restarted.replay_orphans() == 250
        assert await count(marker) == 250
    finally:
        await restarted.close()
