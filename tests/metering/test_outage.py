"""PostgreSQL stopped during traffic and started again: every request is accounted for."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import run_migrate
from tests.metering.usage_app import seed_with
from tests.servers import PostgresServer, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def own_postgres(postgres: PostgresServer) -> Iterator[PostgresServer]:
    """A PostgreSQL this test may stop (the shared one serves everything else)."""
    server = PostgresServer().start()
    yield server
    server.destroy()


async def stored(url: str) -> int:
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://"))
    try:
        value: int = await connection.fetchval("SELECT count(*) FROM usage_events")
        return value
    finally:
        await connection.close()


async def key_requests(url: str) -> int:
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://"))
    try:
        value: int = await connection.fetchval("SELECT sum(total_requests) FROM api_keys")
        return value
    finally:
        await connection.close()


async def test_usage_survives_a_database_outage(
    own_postgres: PostgresServer, tmp_path: Path
) -> None:
    database_url = own_postgres.create_database()
    run_migrate(database_url)
    env = {
        **os.environ, "TOLLWAY_DATABASE_URL": database_url, "TOLLWAY_STATE_DIR": str(tmp_path),
        "TOLLWAY_KEY_CACHE_SECONDS": "1",  # the outage outlasts the cache time
    }  # fmt: skip
    env.pop("TOLLWAY_REDIS_URL", None)
    secret = seed_with(env)
    port = free_port()
    served = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.metering.usage_app:app", "--factory",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout=30)
        sent = keyed = 0  # requests, and those of the key (the rest are refused without one)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:

            async def traffic(seconds: float) -> None:
                nonlocal sent, keyed
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    batch = [client.get("/hello", headers={"X-API-Key": secret}) for _ in range(10)]
                    responses = await asyncio.gather(*batch, client.get("/hello"))
                    # The key stays cached; the request without one is refused (and its
                    # security event waits for the database like the key's activity).
                    assert [r.status_code for r in responses] == [200] * 10 + [401]
                    sent += len(responses)
                    keyed += 10

            await traffic(1.0)
            await asyncio.to_thread(own_postgres.stop)
            await traffic(2.5)  # the database is down: events go to the journal
            journal = tmp_path / "usage-journal"
            spilled_by = time.monotonic() + 20  # once the writer's attempt has failed
            while not list(journal.glob("usage-*.jsonl")) and time.monotonic() < spilled_by:
                await asyncio.sleep(0.1)
            assert list(journal.glob("usage-*.jsonl")), "nothing was spilled"
            # A key never seen cannot be verified: 503 at once (the breaker), never a 500.
            unknown = await client.get("/hello", headers={"X-API-Key": "tw_live_" + "n" * 32})
            assert unknown.status_code == 503
            assert unknown.json()["error_code"] == "SERVICE_UNAVAILABLE"
            sent += 1
            await asyncio.to_thread(own_postgres.start)
            await traffic(1.0)
        deadline = time.monotonic() + 20
        while await stored(database_url) < sent and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
        assert await stored(database_url) == sent
    finally:
        served.send_signal(signal.SIGTERM)  # graceful: flushes whatever is left
        served.wait(timeout=30)
    assert await stored(database_url) == sent  # and nothing twice
    assert not list((tmp_path / "usage-journal").glob("usage-*.jsonl"))
    assert await key_requests(database_url) == keyed  # key activity was kept, too
