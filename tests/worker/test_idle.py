"""An idle service leaves the database idle: jobs that have caught up wait for a change
signal (`tollway.signals`) instead of polling, and wake as soon as one comes, on this
instance or another."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from tests.clock import ManualClock, until
from tests.conftest import LiveServer, run_migrate
from tests.metering.traffic import roll_up, usage_record, write
from tollway.alerts.engine import SLOW_EVERY
from tollway.app import build_services
from tollway.auth.principal import Principal, Role
from tollway.events import EventBus
from tollway.metering.rollups import RollupJob
from tollway.models import JobClaim
from tollway.services import Services
from tollway.settings import Settings
from tollway.signals import Pace, Signals, Topic, Wake
from tollway.worker import PeriodicJob, Worker


@pytest.fixture
async def services(server: LiveServer) -> AsyncIterator[Services]:
    """Services of a second instance on the test server's database and bus."""
    built = build_services(server.settings)
    await built.bus.connect()
    built.signals.start()
    try:
        yield built
    finally:
        await built.signals.stop()
        await built.bus.disconnect()


async def new_tenant(services: Services, name: str) -> str:
    root = Principal(subject="test", role=Role.SUPER_ADMIN)
    return str((await services.tenants.create(root, f"{name}-{uuid4().hex[:6]}", metadata={})).id)


async def test_an_announcement_reaches_every_instance(server: LiveServer) -> None:
    first, second = EventBus(server.settings.broadcast_url), EventBus(server.settings.broadcast_url)
    await first.connect()
    await second.connect()
    here, there = Signals(first), Signals(second)
    there.start()
    try:
        await asyncio.sleep(0.3)  # the subscription is in place
        for round_ in range(3):  # coalesced bursts, each still followed by a publication
            seen = there.counts((Topic.USAGE,))
            for _ in range(50):
                here.announce(Topic.USAGE)
            assert await there.wait(seen, 5.0), round_
            assert not there.moved(there.counts((Topic.USAGE,)))
        assert here.counts((Topic.WEBHOOKS,)) == there.counts((Topic.WEBHOOKS,))
    finally:
        await there.stop()
        await first.disconnect()
        await second.disconnect()


async def test_an_idle_job_runs_again_only_when_signalled(server: LiveServer) -> None:
    clock = ManualClock()
    signals = Signals(clock=clock)
    runs: list[float] = []

    async def job() -> Pace:
        runs.append(clock.monotonic())
        return Pace.IDLE

    async def ran(times: int) -> bool:
        return len(runs) == times

    worker = Worker(heartbeat_seconds=3600, clock=clock)
    worker.add_job(PeriodicJob("idle", 0.01, job, Wake(signals, (Topic.USAGE,), 3600)))
    worker.start()
    try:
        await until(lambda: ran(1))
        await clock.advance(60)  # many intervals, well short of the idle limit
        assert len(runs) == 1
        signals.bump(Topic.CONFIG)  # not its topic
        await clock.advance(60)
        assert len(runs) == 1
        signals.bump(Topic.USAGE)
        await until(lambda: ran(2))
        await clock.advance(3600)  # the idle limit: once more without a signal
        await until(lambda: ran(3))
    finally:
        await worker.stop()


async def test_rollups_report_idle_once_nothing_is_left(
    settings: Settings, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # A database of its own: on the shared one, other tests' recent events are still pending.
    if settings.is_postgres:
        database_url = request.getfixturevalue("postgres").create_database()
    else:
        database_url = f"sqlite://{tmp_path}/rollups.db"
    run_migrate(database_url)
    done = subprocess.run(
        [sys.executable, "-m", "tests.worker.idle_rollups", database_url],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["IDLE", "BUSY", "IDLE"]


async def _claims(since: datetime | None = None) -> int:
    """Alert ticks claimed, from `since` on (older claims are swept every hundredth tick)."""
    query = JobClaim.filter(job="alerts")
    if since is not None:
        query = query.filter(tick__gte=int(since.timestamp() // 10))
    return await query.count()


async def test_a_settled_engine_leaves_the_database_alone_until_something_changes(
    services: Services,
) -> None:
    engine = services.alert_engine
    engine.interval_seconds = 10.0  # the test server's is an hour
    start = datetime.fromtimestamp(
        datetime.now(UTC).timestamp() // SLOW_EVERY.total_seconds() * SLOW_EVERY.total_seconds()
        + 3600,
        UTC,
    )  # a five-minute boundary in the future, so no other evaluation shares its ticks
    ticks = [start + timedelta(seconds=10 * i + 3) for i in range(28)]  # one interval
    await asyncio.sleep(0.5)  # the fixture's bus connection settles (a reconnect bumps all)
    before, used = await _claims(start), 0
    for used, moment in enumerate(ticks, 1):  # noqa: B007  # evaluates until settled: then nothing claimed
        await engine.run(moment)
        if await _claims(start) == before:
            break
        before = await _claims(start)
    assert used < 20, "the engine never settled"
    for moment in ticks[used : used + 4]:
        assert await engine.run(moment) == 0
    assert await _claims(start) == before  # quiet ticks claim nothing: no statement at all
    services.signals.bump(Topic.USAGE)
    await engine.run(ticks[used + 4])
    assert await _claims(start) == before + 1
    await engine.run(ticks[used + 5])
    assert await _claims(start) == before + 1
    await engine.run(start + SLOW_EVERY + timedelta(seconds=3))  # the slow detectors are due
    assert await _claims(start) == before + 2


async def test_an_engine_with_data_in_a_window_keeps_evaluating(
    services: Services, server: LiveServer
) -> None:
    tenant = await new_tenant(services, "idle-busy")
    now = datetime.now(UTC)
    failing = [
        usage_record(tenant, None, now - timedelta(seconds=1 + i % 60), status=500)
        for i in range(60)
    ]
    await write(failing)  # the built-in error-rate rule crosses
    await roll_up(RollupJob(minute_retention=timedelta(days=1)))
    engine = services.alert_engine
    engine.interval_seconds = 10.0
    await engine.run(now)
    before = await _claims(now)
    await engine.run(now + timedelta(seconds=10))
    await engine.run(now + timedelta(seconds=20))
    assert await _claims(now) == before + 2
