"""Usage ingestion: events per second from the in-process buffer into the database, through the
same writer the middleware uses (batches; COPY on PostgreSQL, executemany on SQLite), with the
stored count checked at the end. Targets: 50,000/s into PostgreSQL, 20,000/s into SQLite.

The machine's own ceiling runs in the same run: the driver alone writing the same rows in the
same batches into a fresh table (a bare asyncpg COPY, a bare sqlite3 executemany), so the
share of it that Tollway reaches can be compared across days of a shared machine.

    .venv/bin/python bench/ingest.py [--events 300000]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from tests.servers import PostgresServer  # noqa: E402
from tollway.db import acquire_database, release_database  # noqa: E402
from tollway.metering.journal import UsageJournal  # noqa: E402
from tollway.metering.records import COLUMNS, UsageRecord, ensure_ids  # noqa: E402
from tollway.metering.sink import INSERT_SQLITE, TABLE  # noqa: E402
from tollway.metering.writer import UsageWriter  # noqa: E402
from tollway.models import UsageEvent  # noqa: E402
from tollway.settings import Settings  # noqa: E402

TARGETS = {"postgresql": 50_000, "sqlite": 20_000}
BATCH = 10_000
"""The writer's batch size, which the ceilings use too."""


def migrate(database_url: str) -> None:
    """`tollway migrate` against a fresh database."""
    subprocess.run(
        [sys.executable, "-c", "from tollway.cli import main; main()", "migrate"],
        env={"TOLLWAY_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip


def generate(count: int) -> list[UsageRecord]:
    """Events shaped like real traffic: 50 keys over 5 tenants, 20 routes, some errors."""
    tenants = [str(uuid.uuid4()) for _ in range(5)]
    keys = [str(uuid.uuid4()) for _ in range(50)]
    now = datetime.now(UTC)
    return [
        UsageRecord(
            event_id=None,
            at=now,
            tenant_id=tenants[i % 5],
            key_id=keys[i % 50],
            method="GET",
            route=f"/v1/items/{{id}}/{i % 20}",
            path=f"/v1/items/{i}/{i % 20}",
            status=500 if i % 97 == 0 else 200,
            error_code=None,
            latency_ms=1.0 + i % 40,
            request_bytes=0,
            response_bytes=512,
            client_ip="198.51.100.7",
            user_agent="bench/1",
            api_version="2026-01-01",
            cost_units=1,
        )
        for i in range(count)
    ]


async def ingest(database_url: str, workdir: Path, count: int) -> float:
    """Events per second, end to end, after checking every event was stored once."""
    settings = Settings(database_url=database_url, state_dir=workdir)
    await acquire_database(settings)
    try:
        writer = UsageWriter(UsageJournal(workdir / "journal"))
        records = generate(count)
        task = asyncio.create_task(writer.run())
        started = time.perf_counter()
        for start in range(0, count, 1000):  # arriving in bursts, as from many requests
            for record in records[start : start + 1000]:
                writer.add(record)
            await asyncio.sleep(0)
            while writer.buffered > 50_000:  # the producer outruns any database: pace it
                await asyncio.sleep(0.001)
        await writer.close()
        elapsed = time.perf_counter() - started
        task.cancel()
        stored = await UsageEvent.all().count()
        if stored != count or writer.spilled:
            sys.exit(f"stored {stored} of {count} events ({writer.spilled} spilled)")
    finally:
        await release_database()
    return count / elapsed


async def ceiling_postgres(database_url: str, count: int) -> float:
    """Rows per second of a bare asyncpg COPY of the same rows, in the same batches."""
    rows = rows_for(count, UsageRecord.row)
    connection = await asyncpg.connect(database_url)
    try:
        started = time.perf_counter()
        for start in range(0, count, BATCH):
            async with connection.transaction():
                await connection.copy_records_to_table(
                    TABLE, records=rows[start : start + BATCH], columns=COLUMNS
                )
        elapsed = time.perf_counter() - started
    finally:
        await connection.close()
    return count / elapsed


def ceiling_sqlite(path: Path, count: int) -> float:
    """Rows per second of a bare sqlite3 executemany of the same rows, in the same batches."""
    rows = rows_for(count, UsageRecord.sqlite_row)
    connection = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        for start in range(0, count, BATCH):
            with connection:
                connection.executemany(INSERT_SQLITE, rows[start : start + BATCH])
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
    return count / elapsed


def rows_for(count: int, convert: Any) -> list[tuple[Any, ...]]:
    """The benchmark's events as the driver takes them, ids assigned."""
    records = generate(count)
    ensure_ids(records)
    return [convert(record) for record in records]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tollway-ingest-"))
    postgres = PostgresServer().start()
    results: dict[str, tuple[float, float]] = {}
    try:
        for name in ("postgresql", "sqlite"):
            if name == "sqlite":
                url, bare = f"sqlite://{workdir}/i.db", f"sqlite://{workdir}/bare.db"
            else:
                url, bare = postgres.create_database(), postgres.create_database()
            migrate(url)
            migrate(bare)
            rate = asyncio.run(ingest(url, workdir, args.events))
            if name == "sqlite":
                ceiling = ceiling_sqlite(Path(bare.removeprefix("sqlite://")), args.events)
            else:
                ceiling = asyncio.run(ceiling_postgres(bare, args.events))
            results[name] = (rate, ceiling)
            print(f"{name:10} {rate:10,.0f} events/s, driver alone {ceiling:10,.0f}/s", flush=True)
    finally:
        postgres.destroy()
    print(f"\n{args.events:,} events each\n")
    print("| database | Tollway events/s | driver alone | share | target | |")
    print("|---|---:|---:|---:|---:|---|")
    for name, (rate, ceiling) in results.items():
        verdict = "met" if rate >= TARGETS[name] else "missed"
        print(
            f"| {name} | {rate:,.0f} | {ceiling:,.0f} | {rate / ceiling:.2f} "
            f"| {TARGETS[name]:,} | {verdict} |"
        )


if __name__ == "__main__":
    main()
