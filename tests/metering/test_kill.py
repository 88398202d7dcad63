"""SIGKILL of a server and its usage writer child together, mid-traffic, and a restart with
the same state directory: every request the client saw answered has exactly one usage event."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.conftest import run_migrate
from tests.metering.usage_app import seed_with
from tests.servers import PostgresServer, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
TOTAL, KILL_AFTER, CLIENTS = 20_000, 8_000, 20


@pytest.fixture
def own_postgres(postgres: PostgresServer) -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.destroy()


def serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """The protected app in its own process group (the server and its writer child)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.metering.usage_app:app", "--factory",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    wait_for_port(port, timeout=30)
    return process


async def events_by_agent(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://"))
    try:
        rows = await connection.fetch(
            "SELECT user_agent, count(*) AS n FROM usage_events GROUP BY user_agent"
        )
        return {row["user_agent"]: row["n"] for row in rows}
    finally:
        await connection.close()


async def test_a_killed_server_loses_no_usage(own_postgres: PostgresServer, tmp_path: Path) -> None:
    database_url = own_postgres.create_database()
    run_migrate(database_url)
    env = {**os.environ, "TOLLWAY_DATABASE_URL": database_url, "TOLLWAY_STATE_DIR": str(tmp_path)}
    env.pop("TOLLWAY_REDIS_URL", None)
    secret = seed_with(env)
    port = free_port()
    answered: list[int] = []  # the requests the client saw answered (their numbers)
    numbers = iter(range(TOTAL))
    server = serve(env, port)

    async def client(http: aiohttp.ClientSession, stop_after: int) -> None:
        for number in numbers:
            headers = {"X-API-Key": secret, "User-Agent": f"n-{number}"}
            try:
                async with http.get(f"http://127.0.0.1:{port}/hello", headers=headers) as response:
                    assert response.status == 200
                    await response.read()
            except aiohttp.ClientError:
                return  # the server is gone: this request was never answered
            answered.append(number)
            if len(answered) >= stop_after:
                return

    try:
        # aiohttp: the client must not be the slower side of 20,000 requests on two cores.
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            await asyncio.gather(*[client(http, KILL_AFTER) for _ in range(CLIENTS)])
            os.killpg(server.pid, signal.SIGKILL)  # the server and its writer child at once
            server.wait()
            server = serve(env, port)  # the same state directory
            await asyncio.gather(*[client(http, TOTAL) for _ in range(CLIENTS)])
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    stored = await events_by_agent(database_url)
    assert len(answered) >= TOTAL - 2 * CLIENTS  # all but those cut off by the kill
    missing = [n for n in answered if stored.get(f"n-{n}") != 1]
    assert missing == []  # every answered request: exactly one usage event
    assert sum(stored.values()) <= len(answered) + CLIENTS  # the rest were in flight
    assert not list((tmp_path / "usage-wal").glob("wal-*.log"))
