"""Run in a process of its own, on a database of its own (nothing else writes to it): the
rollup job's pace as events arrive and are rolled up. Prints one pace per line.

python -m tests.worker.idle_rollups <database url>
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from tests.metering.traffic import usage_record, write
from tollway.db import acquire_database, release_database
from tollway.metering.rollups import RollupJob
from tollway.settings import Settings


async def paces(database_url: str) -> list[str]:
    """IDLE with nothing stored; BUSY with an event not yet rolled up; IDLE once it is."""
    await acquire_database(Settings(database_url=database_url))
    try:
        now = datetime.now(UTC)
        job = RollupJob(minute_retention=timedelta(days=1), clock=lambda: now)
        seen = [await job.run_paced()]
        await write([usage_record(str(uuid4()), None, now - timedelta(seconds=1))])  # unsettled
        seen.append(await job.run_paced())
        later = RollupJob(
            minute_retention=timedelta(days=1), clock=lambda: now + timedelta(minutes=2)
        )
        seen.append(await later.run_paced())
        return [pace.name for pace in seen]
    finally:
        await release_database()


if __name__ == "__main__":
    print("\n".join(asyncio.run(paces(sys.argv[1]))))
