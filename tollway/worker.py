"""The background worker: periodic jobs, each in its own supervised loop.

Rollups, alert evaluation, budgets, webhook dispatch and retention register their jobs here.
A job with a `Wake` that reports itself `IDLE` is not run again until one of its signals
moves (`tollway.signals`) or its idle limit passes, so an idle service leaves the database
idle too. The worker runs standalone (`tollway worker`) or inside `tollway serve`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tollway.clock import SYSTEM_CLOCK, Clock
from tollway.models import WorkerHeartbeat
from tollway.signals import Pace, Wake
from tollway.sql import connection, dialect_of

logger = logging.getLogger(__name__)

STALE_HEARTBEAT = timedelta(days=1)
STALE_SWEEP = timedelta(hours=1)
HEARTBEAT_SQL = (
    "INSERT INTO worker_heartbeats (worker_id, hostname, started_at, beat_at) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (worker_id) DO UPDATE SET beat_at = EXCLUDED.beat_at"
)


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """A coroutine run every `interval_seconds`; failures are logged and retried next time.
    With `wake`, a run that returns `Pace.IDLE` is followed by a wait for a signal (never
    less than the interval from the run's start)."""

    name: str
    interval_seconds: float
    run: Callable[[], Awaitable[object]]
    wake: Wake | None = None


class Worker:
    """Runs periodic jobs until stopped."""

    def __init__(self, heartbeat_seconds: float, *, clock: Clock = SYSTEM_CLOCK) -> None:
        """`clock`: what job intervals are measured and waited by."""
        self._clock = clock
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._started_at = datetime.now(UTC)
        self._jobs: list[PeriodicJob] = [
            PeriodicJob("heartbeat", heartbeat_seconds, self._heartbeat)
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._swept_at: datetime | None = None

    def add_job(self, job: PeriodicJob) -> None:
        """Register a job before `start`."""
        self._jobs.append(job)

    def start(self) -> None:
        """Start every job loop in the running event loop."""
        self._tasks = [asyncio.create_task(self._loop(job), name=job.name) for job in self._jobs]

    async def stop(self) -> None:
        """Cancel every loop and wait for them, then withdraw this worker's heartbeat."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        try:
            await WorkerHeartbeat.filter(worker_id=self.worker_id).delete()
        except Exception:
            logger.debug("could not withdraw heartbeat", exc_info=True)

    async def _loop(self, job: PeriodicJob) -> None:
        wake = job.wake
        while True:
            # Noted before the run: a change during it is not missed.
            seen = wake.signals.counts(wake.topics) if wake is not None else {}
            started = self._clock.monotonic()
            pace: object = Pace.BUSY
            try:
                pace = await job.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("worker job %s failed", job.name)
            if wake is not None and pace is Pace.IDLE:
                await wake.signals.wait(seen, wake.idle_seconds)
            elapsed = self._clock.monotonic() - started
            await self._clock.sleep(max(0.0, job.interval_seconds - elapsed))

    async def _heartbeat(self) -> None:
        """One upsert per beat; heartbeats of long-gone workers are swept once an hour."""
        now = datetime.now(UTC)
        client = connection()
        await client.execute_query(
            dialect_of(client).sql(HEARTBEAT_SQL),
            [self.worker_id, socket.gethostname(), self._started_at, now],
        )
        if self._swept_at is None or now - self._swept_at >= STALE_SWEEP:
            await WorkerHeartbeat.filter(beat_at__lt=now - STALE_HEARTBEAT).delete()
            self._swept_at = now
