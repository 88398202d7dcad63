"""What an idle Tollway asks of PostgreSQL: statements per minute and the longest one, once
traffic has stopped after a journal spill and its replay.

The protected app (`tests/metering/usage_app.py` under uvicorn, child usage writer) and
`tollway serve` (admin API and worker) share one PostgreSQL and one Redis. `wrk` drives the
app while PostgreSQL is stopped for a few seconds, so usage spills to the journal and is
replayed once it is back; then the traffic stops, and once its last minute is rolled up
`pg_stat_statements` counts every statement, minute by minute, for two idle periods: the
first, while the alert rules' five-minute windows still hold the traffic, and the next.
Target: no statement over 100 ms, a handful a minute.

    .venv/bin/python bench/idle_db.py [--idle-seconds 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import protected  # noqa: E402
from bench.enforcement import wrk  # noqa: E402
from tests.servers import PostgresServer, RedisServer, free_port, wait_for_port  # noqa: E402

MAX_STATEMENT_MS = 100.0
STATEMENTS_SQL = """
SELECT calls, max_exec_time, query FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND query NOT LIKE '%pg_stat_statements%'
ORDER BY calls DESC
"""


class Statement(NamedTuple):
    """One normalised statement of `pg_stat_statements`."""

    calls: int
    max_ms: float
    query: str


async def _statements(dsn: str, reset: bool) -> list[Statement]:
    connection = await asyncpg.connect(dsn)
    try:
        if reset:
            await connection.execute("SELECT pg_stat_statements_reset()")
            return []
        rows = await connection.fetch(STATEMENTS_SQL)
        return [Statement(r["calls"], r["max_exec_time"], r["query"]) for r in rows]
    finally:
        await connection.close()


def statements(dsn: str, reset: bool = False) -> list[Statement]:
    """The statements counted since the last reset (or reset the count)."""
    return asyncio.run(_statements(dsn, reset))


def journal_empty(state: Path) -> bool:
    """No spilled segment is waiting for replay."""
    return not any(state.rglob("usage-*.jsonl"))


def admin_server(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`tollway serve` with its worker, ready."""
    port = free_port()
    command = [sys.executable, "-c", "from tollway.cli import main; main()", "serve"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_port(port, timeout=30)
    return process


def spill_and_replay(postgres: PostgresServer, port: int, secret: str, state: Path) -> None:
    """Traffic for 12 s with PostgreSQL down from 3 s to 7 s; returns once replayed."""
    load = threading.Thread(target=wrk, args=(port, secret, 12, 10), kwargs={"path": "/hello"})
    load.start()
    time.sleep(3)
    postgres.stop()
    time.sleep(4)
    postgres.start()
    load.join()
    deadline = time.monotonic() + 120
    while not journal_empty(state) and time.monotonic() < deadline:
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=300.0, help="each of two phases")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    state = Path(tempfile.mkdtemp(prefix="tollway-idle-"))
    postgres = PostgresServer({"shared_preload_libraries": "pg_stat_statements"}).start()
    redis = RedisServer().start()
    processes: list[subprocess.Popen[bytes]] = []
    served = None
    try:
        url = postgres.create_database()
        dsn = url.replace("postgres://", "postgresql://", 1)
        env = {
            **os.environ, "TOLLWAY_DATABASE_URL": url, "TOLLWAY_REDIS_URL": redis.url,
            "TOLLWAY_STATE_DIR": str(state),
        }  # fmt: skip
        secret = protected.seed(env)
        asyncio.run(_create_extension(dsn))
        served = protected.serve(env)
        processes.append(admin_server(env))
        spill_and_replay(postgres, served.port, secret, state)
        replayed = journal_empty(state)
        settled_in = wait_rolled_up(dsn)
        phases = [idle_phase(dsn, round(args.idle_seconds / 60)) for _ in range(2)]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)
        if served is not None:
            served.stop()
        redis.stop()
        postgres.destroy()
        shutil.rmtree(state, ignore_errors=True)
    print(f"journal replayed before the idle period: {replayed}")
    print(f"last minute of traffic rolled up {settled_in:.0f} s after it stopped")
    for name, (idle, per_minute) in zip(("first", "next"), phases, strict=True):
        report(name, idle, per_minute)


async def _create_extension(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    finally:
        await connection.close()


def wait_rolled_up(dsn: str, limit: float = 180.0) -> float:
    """Wait until the rollups have caught up with the traffic; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if not asyncio.run(_pending(dsn)):
            break
        time.sleep(1)
    return time.monotonic() - started


async def _pending(dsn: str) -> bool:
    connection = await asyncpg.connect(dsn)
    try:
        watermark = await connection.fetchval(
            "SELECT watermark FROM rollup_cursors WHERE name = 'usage'"
        )
        dirty = await connection.fetchval("SELECT COUNT(*) FROM usage_dirty_minutes")
        newer = await connection.fetchval(
            "SELECT COUNT(*) FROM usage_events WHERE at >= $1", watermark
        )
        return bool(watermark is None or dirty or newer)
    finally:
        await connection.close()


def idle_phase(dsn: str, minutes: int) -> tuple[list[Statement], list[int]]:
    """Every statement of `minutes` idle minutes, and how many came each minute."""
    statements(dsn, reset=True)
    per_minute: list[int] = []
    for _ in range(max(1, minutes)):
        time.sleep(60)
        per_minute.append(sum(s.calls for s in statements(dsn)) - sum(per_minute))
    return statements(dsn), per_minute


def report(name: str, idle: list[Statement], per_minute: list[int]) -> None:
    """Statements a minute, the longest, and the busiest statements."""
    calls = sum(s.calls for s in idle)
    longest = max((s.max_ms for s in idle), default=0.0)
    print(f"the {name} {len(per_minute)} idle min: {calls} statements; a minute: {per_minute}")
    print(f"longest statement: {longest:.1f} ms (target at most {MAX_STATEMENT_MS:.0f} ms)")
    for statement in idle[:15]:
        query = " ".join(statement.query.split())[:110]
        print(f"{statement.calls:>7} {statement.max_ms:>8.1f} ms  {query}")
    for statement in idle:
        if statement.max_ms > MAX_STATEMENT_MS:
            print(f"over {MAX_STATEMENT_MS:.0f} ms ({statement.max_ms:.1f} ms):")
            print(" ".join(statement.query.split()))


if __name__ == "__main__":
    main()
