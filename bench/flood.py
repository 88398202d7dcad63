"""A flood of guessed keys from one address beside a valid client: the valid client's latency
with the flood against without it (the peer, in the same run), and how many key lookups the
database saw for the flood's distinct unknown keys. Targets: the valid client's p99 within
twice its p99 without the flood; at most one query per distinct unknown key.

The protected app (`tests/metering/usage_app.py`, one uvicorn worker, PostgreSQL) serves the
valid client (`wrk -t1 -c1`: one request at a time, its key cached) while a second process
sends `--rate` random `tw_live_` keys a second from the same address. Lookups are counted
from PostgreSQL's statistics (index scans of the secrets' primary key).

    .venv/bin/python bench/flood.py [--seconds 6] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import protected  # noqa: E402
from bench.enforcement import Result, wrk  # noqa: E402
from tests.servers import PostgresServer  # noqa: E402

LOOKUPS_SQL = (
    "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'api_key_secrets_pkey'"
)


async def flood(port: int, seconds: float, rate: int) -> int:
    """Send `rate` requests a second with random keys for `seconds`; how many were sent."""
    import aiohttp

    sent = 0
    url = f"http://127.0.0.1:{port}/hello"
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            key = "tw_live_" + secrets.token_urlsafe(24)
            async with session.get(url, headers={"X-API-Key": key}) as response:
                await response.read()

        tasks: set[asyncio.Task[None]] = set()
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            while sent < elapsed * rate:
                task = asyncio.create_task(one())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks, return_exceptions=True)
    return sent


def lookups(database_url: str) -> int:
    """Index scans of the secrets' primary key so far (one per key lookup)."""
    time.sleep(1.5)  # backends flush their statistics at most once a second
    out = subprocess.run(
        ["psql", database_url, "-Atc", LOOKUPS_SQL], capture_output=True, text=True, check=True
    ).stdout.strip()
    return int(out or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--flood-client", nargs=2, metavar=("PORT", "SECONDS"))
    args = parser.parse_args()
    if args.flood_client:  # the flooding process
        port, seconds = args.flood_client
        print(asyncio.run(flood(int(port), float(seconds), args.rate)))
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    state = Path(tempfile.mkdtemp(prefix="tollway-flood-"))
    postgres = PostgresServer().start()
    served = None
    try:
        database_url = postgres.create_database()
        env = {**os.environ, "TOLLWAY_DATABASE_URL": database_url, "TOLLWAY_STATE_DIR": str(state)}
        env.pop("TOLLWAY_REDIS_URL", None)
        secret = protected.seed(env)
        served = protected.serve(env)
        port = served.port
        wrk(port, secret, 2, 1, path="/hello")  # warm-up: the valid key is cached
        alone = wrk(port, secret, args.seconds, 1, path="/hello")
        before = lookups(database_url)
        flooding = subprocess.Popen(
            [sys.executable, __file__, "--rate", str(args.rate),
             "--flood-client", str(port), str(args.seconds + 1)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(0.5)
        beside = wrk(port, secret, args.seconds, 1, path="/hello")
        sent = int(flooding.communicate(timeout=60)[0].strip())
        seen = lookups(database_url) - before
    finally:
        if served is not None:
            served.stop()
        postgres.destroy()
        shutil.rmtree(state, ignore_errors=True)
    report(alone, beside, sent, seen, args.rate)


def report(alone: Result, beside: Result, sent: int, seen: int, rate: int) -> None:
    """The table for docs/benchmarks.md."""
    print("| valid client | req/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    print(f"| alone | {alone.rps:,.0f} | {alone.p50_ms:.2f} | {alone.p99_ms:.2f} |")
    print(f"| beside {rate:,} random keys/s | {beside.rps:,.0f} | {beside.p50_ms:.2f} | "
          f"{beside.p99_ms:.2f} |")  # fmt: skip
    ratio = beside.p99_ms / alone.p99_ms
    print(f"\np99 beside / alone: {ratio:.2f} (target <= 2) {'met' if ratio <= 2 else 'MISSED'}")
    verdict = "met" if seen <= sent else "MISSED"
    print(f"{sent:,} distinct random keys sent, {seen:,} key lookups in the database "
          f"(target <= one per distinct key) {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
