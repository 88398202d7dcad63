"""The background worker: periodic jobs, each in its own supervised loop.

Later areas (usage flushes, rollups, alert evaluation, webhook dispatch, retention) register
their jobs here. The worker runs standalone (`tollway worker`) or inside `tollway serve`.
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

from tollway.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

STALE_HEARTBEAT = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """A coroutine run every `interval_seconds`; failures are logged and retried next time."""

    name: str
    interval_seconds: float
    run: Callable[[], Awaitable[object]]


class Worker:
    """Runs periodic jobs until stopped."""

    def __init__(self, heartbeat_seconds: float) -> None:
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._started_at = datetime.now(UTC)
        self._jobs: list[PeriodicJob] = [
            PeriodicJob("heartbeat", heartbeat_seconds, self._heartbeat)
        ]
        self._tasks: list[asyncio.Task[None]] = []

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
        while True:
            try:
                await job.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("worker job %s failed", job.name)
            await asyncio.sleep(job.interval_seconds)

    async def _heartbeat(self) -> None:
        now = datetime.now(UTC)
        await WorkerHeartbeat.update_or_create(
            worker_id=self.worker_id,
            defaults={
                "hostname": socket.gethostname(),
                "started_at": self._started_at,
                "beat_at": now,
            },
        )
        await WorkerHeartbeat.filter(beat_at__lt=now - STALE_HEARTBEAT).delete()
