"""Writing a batch of usage events: PostgreSQL COPY, SQLite executemany; idempotent on event_id.

On PostgreSQL the batch is COPYed into a per-connection temporary table and moved with
`INSERT … ON CONFLICT (event_id) DO NOTHING`, so a replayed batch adds nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from tollway.metering.records import COLUMNS, UsageRecord, rows_of, stream_rows

TABLE = "usage_events"
STAGING = "usage_events_incoming"
_column_list = ", ".join(COLUMNS)
# Statements built from constants only (no input reaches them).
CREATE_STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (LIKE {TABLE} INCLUDING DEFAULTS) "
    "ON COMMIT DELETE ROWS"
)
MOVE_STAGED = (
    f"INSERT INTO {TABLE} ({_column_list}) SELECT {_column_list} FROM {STAGING} "  # noqa: S608
    "ON CONFLICT (event_id) DO NOTHING"
)
INSERT_SQLITE = (
    f"INSERT OR IGNORE INTO {TABLE} ({_column_list}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)


LATE_AFTER = timedelta(seconds=5)
"""Events older than this when written may land in a minute already rolled up (the rollup
job waits longer than this before rolling a minute up), so their minutes are marked dirty."""
MARK_DIRTY_SQLITE = "INSERT INTO usage_dirty_minutes (minute) VALUES (?)"
MARK_DIRTY_POSTGRES = "INSERT INTO usage_dirty_minutes (minute) VALUES ($1)"


def late_minutes(records: Sequence[UsageRecord], now: datetime | None = None) -> list[datetime]:
    """The distinct minutes of the events in `records` that arrive late."""
    threshold = (now or datetime.now(UTC)) - LATE_AFTER
    minutes = {r.at.replace(second=0, microsecond=0) for r in records if r.at < threshold}
    return sorted(minutes)


def _is_postgres(client: Any) -> bool:
    return "postgres" in type(client).__module__ or "asyncpg" in type(client).__module__


async def write_usage(records: Sequence[UsageRecord], replay: bool = False) -> int:
    """Store `records` (skipping event ids already stored); returns how many were given.

    A first attempt cannot collide (its ids are new), so on PostgreSQL it is COPYed straight
    into the table; a `replay` (the batch may have been stored before its acknowledgement was
    lost) goes through the staging table and `ON CONFLICT DO NOTHING`.
    """
    if not records:
        return 0
    client = connections.get("default")
    late = late_minutes(records)
    if not _is_postgres(client):
        await _insert_sqlite(records, late)
        return len(records)
    async with client.acquire_connection() as connection, connection.transaction():
        if replay:
            await connection.execute(CREATE_STAGING)
        await connection.copy_records_to_table(
            STAGING if replay else TABLE,
            records=stream_rows(records, UsageRecord.row),
            columns=COLUMNS,
        )
        if replay:
            await connection.execute(MOVE_STAGED)
        if late:
            await connection.executemany(MARK_DIRTY_POSTGRES, [(m,) for m in late])
    return len(records)


SQLITE_CHUNK = 500


async def _insert_sqlite(records: Sequence[UsageRecord], late: list[datetime]) -> None:
    # One transaction, written in short steps: SQLite's thread holds the GIL while it binds
    # rows, so small steps let the event loop serve requests in between (p99 latency).
    rows = await rows_of(records, UsageRecord.sqlite_row)
    async with in_transaction() as connection:
        for start in range(0, len(rows), SQLITE_CHUNK):
            await connection.execute_many(INSERT_SQLITE, rows[start : start + SQLITE_CHUNK])  # type: ignore[arg-type]
        if late:
            await connection.execute_many(MARK_DIRTY_SQLITE, [[m] for m in late])
