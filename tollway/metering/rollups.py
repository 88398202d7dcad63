"""The rollup job: minute, hour and day rollups of raw usage, incremental and idempotent.

Each run, under one lock (a PostgreSQL advisory lock; SQLite serialises writers), it
recomputes from raw events every minute that closed since the last run and every minute
marked dirty by a late write, then recomputes each hour and day those minutes complete or
change, from the finer rollups. A bucket is always recomputed whole and written with an
upsert that replaces it, so a re-run changes nothing and two workers never double count;
the cursor moves in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from tollway.metering.buckets import STEP, floor
from tollway.metering.dimensions import CUBE_LEVELS, CUBES
from tollway.metering.rollup_sql import from_finer, from_raw
from tollway.signals import Pace
from tollway.sql import Dialect, Granularity, as_datetime, connection, dialect_of

logger = logging.getLogger(__name__)

CURSOR = "usage"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SETTLE = timedelta(seconds=10)
"""A minute is rolled up this long after it ends, once its events have been flushed."""
MAX_SPAN = timedelta(hours=6)
"""At most this much new time per transaction, so a backlog is caught up in steps."""
DIRTY_PER_RUN = 5000
JOIN_GAP = timedelta(minutes=30)
ROLLUP_LOCK = 7_245_001
PENDING_SQL = (
    "SELECT EXISTS (SELECT 1 FROM usage_dirty_minutes) OR EXISTS (SELECT 1 FROM usage_events e "
    "JOIN rollup_cursors c ON c.name = ? AND e.at >= c.watermark) AS pending"
)
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _ranges(
    starts: Iterable[datetime], granularity: Granularity
) -> list[tuple[datetime, datetime]]:
    """Bucket starts as [start, end) ranges; for minutes, those less than `JOIN_GAP` apart
    share a range (recomputing a minute that did not change is harmless, and one statement
    is cheaper than many)."""
    gap = JOIN_GAP if granularity is Granularity.MINUTE else timedelta(0)
    step = STEP[granularity]
    ranges: list[tuple[datetime, datetime]] = []
    for start in sorted(set(starts)):
        if ranges and start - ranges[-1][1] <= gap:
            ranges[-1] = (ranges[-1][0], start + step)
        else:
            ranges.append((start, start + step))
    return ranges


class RollupJob:
    """Keeps `usage_rollups` up to date; `run()` is what the worker calls."""

    def __init__(self, *, minute_retention: timedelta, clock: Clock = _utcnow) -> None:
        self.minute_retention = minute_retention
        self.clock = clock

    async def run(self) -> int:
        """Roll up everything that is due; returns how many minutes were recomputed."""
        total = 0
        while True:
            done, more = await self._step()
            total += done
            if not more:
                return total

    async def run_paced(self) -> Pace:
        """`run`, then `IDLE` once nothing is left to roll up: no dirty minute and no event
        at or after the watermark (the worker then waits for usage to be stored)."""
        await self.run()
        client = connection()
        rows = await client.execute_query_dict(dialect_of(client).sql(PENDING_SQL), [CURSOR])
        return Pace.BUSY if rows and rows[0]["pending"] else Pace.IDLE

    async def watermark(self, client: BaseDBAsyncClient) -> datetime | None:
        """Rollups are complete for every minute before this."""
        rows = await client.execute_query_dict(
            dialect_of(client).sql("SELECT watermark FROM rollup_cursors WHERE name = ?"),
            [CURSOR],
        )
        return as_datetime(rows[0]["watermark"]) if rows else None

    async def _step(self) -> tuple[int, bool]:
        async with in_transaction() as conn:
            dialect = dialect_of(conn)
            if dialect.postgres:
                rows = await conn.execute_query_dict(
                    "SELECT pg_try_advisory_xact_lock($1) AS locked", [ROLLUP_LOCK]
                )
                if not rows[0]["locked"]:
                    return 0, False  # another worker is rolling up right now
            target = floor(Granularity.MINUTE, self.clock() - SETTLE)
            previous = await self.watermark(conn)
            if previous is None:  # first run: from the first event ever stored
                previous = await self._skip_empty(conn, dialect, EPOCH, target)
            watermark = await self._skip_empty(conn, dialect, previous, target)
            new_watermark = min(target, watermark + MAX_SPAN) if watermark < target else watermark
            # A mark at or after the previous watermark needs nothing: that minute is rolled
            # up for the first time when the watermark passes it, and its events are already
            # committed (the mark was written with them). Dropping these first keeps a
            # backfill of old events from recomputing minutes it has just done.
            await conn.execute_query(
                dialect.sql("DELETE FROM usage_dirty_minutes WHERE minute >= ?"), [previous]
            )
            dirty = await conn.execute_query_dict(
                dialect.sql(
                    "SELECT id, minute FROM usage_dirty_minutes ORDER BY minute, id LIMIT ?"
                ),
                [DIRTY_PER_RUN],
            )
            minutes = {floor(Granularity.MINUTE, as_datetime(r["minute"])) for r in dirty}
            moment = watermark
            while moment < new_watermark:
                minutes.add(moment)
                moment += STEP[Granularity.MINUTE]
            if minutes or new_watermark > previous:
                await self._recompute(conn, dialect, minutes, previous, new_watermark)
            if dirty:
                ids = [r["id"] for r in dirty]
                marks = ", ".join("?" for _ in ids)
                await conn.execute_query(
                    dialect.sql(f"DELETE FROM usage_dirty_minutes WHERE id IN ({marks})"),  # noqa: S608
                    ids,
                )
            await self._save_watermark(conn, dialect, new_watermark)
        more = new_watermark < target or len(dirty) == DIRTY_PER_RUN
        return len(minutes), more

    async def _skip_empty(
        self, conn: BaseDBAsyncClient, dialect: Dialect, watermark: datetime, target: datetime
    ) -> datetime:
        """Jump over a stretch with no events (a quiet night, a fresh install)."""
        if watermark >= target:
            return watermark
        rows = await conn.execute_query_dict(
            dialect.sql("SELECT MIN(at) AS next FROM usage_events WHERE at >= ? AND at < ?"),
            [watermark, target],
        )
        found = rows[0]["next"] if rows else None
        if found is None:
            return target
        return max(watermark, floor(Granularity.MINUTE, as_datetime(found)))

    async def _save_watermark(
        self, conn: BaseDBAsyncClient, dialect: Dialect, watermark: datetime
    ) -> None:
        await conn.execute_query(
            dialect.sql(
                "INSERT INTO rollup_cursors (name, watermark, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET watermark = EXCLUDED.watermark, "
                "updated_at = EXCLUDED.updated_at"
            ),
            [CURSOR, watermark, _utcnow()],
        )

    async def _recompute(
        self,
        conn: BaseDBAsyncClient,
        dialect: Dialect,
        minutes: set[datetime],
        previous: datetime,
        upto: datetime,
    ) -> None:
        """Minutes from raw events, then the hours and days they change or complete. The
        hour and day holding the previous watermark may complete in this step too (any span
        skipped for having no events has nothing to roll up)."""
        minute_cubes = [c for c in CUBES if Granularity.MINUTE in CUBE_LEVELS[c]]
        hour_cubes = [c for c in CUBES if Granularity.MINUTE not in CUBE_LEVELS[c]]
        minutes_kept_from = self.clock() - self.minute_retention
        # Minutes past their retention are not rolled up: their hours come from raw events.
        kept_minutes = (m for m in minutes if m >= minutes_kept_from)
        for start, end in _ranges(kept_minutes, Granularity.MINUTE):
            for cube in minute_cubes:
                await _run(
                    conn, from_raw(dialect, Granularity.MINUTE, cube=cube, start=start, end=end)
                )
        hours = {floor(Granularity.HOUR, m) for m in minutes} | {floor(Granularity.HOUR, previous)}
        complete_hours = {h for h in hours if h + STEP[Granularity.HOUR] <= upto}
        for hour in sorted(complete_hours):
            end = hour + STEP[Granularity.HOUR]
            for cube in minute_cubes:
                if hour >= minutes_kept_from:
                    statement = from_finer(
                        dialect,
                        Granularity.HOUR,
                        finer=Granularity.MINUTE,
                        cube=cube,
                        start=hour,
                        end=end,
                    )
                else:  # its minute rollups are gone: count the hour from raw events
                    statement = from_raw(dialect, Granularity.HOUR, cube=cube, start=hour, end=end)
                await _run(conn, statement)
        for start, end in _ranges(complete_hours, Granularity.HOUR):
            for cube in hour_cubes:
                await _run(
                    conn, from_raw(dialect, Granularity.HOUR, cube=cube, start=start, end=end)
                )
        days = {floor(Granularity.DAY, h) for h in complete_hours}
        days.add(floor(Granularity.DAY, previous))
        for day in sorted(d for d in days if d + STEP[Granularity.DAY] <= upto):
            for cube in CUBES:
                end = day + STEP[Granularity.DAY]
                await _run(
                    conn,
                    from_finer(
                        dialect,
                        Granularity.DAY,
                        finer=Granularity.HOUR,
                        cube=cube,
                        start=day,
                        end=end,
                    ),
                )


async def _run(conn: BaseDBAsyncClient, statement: tuple[str, list[Any]]) -> None:
    await conn.execute_query(*statement)
