"""Memory of the serving process under sustained load: RSS before, during and after `wrk -t1
-c10` against the protected app (`tests/metering/usage_app.py`, one uvicorn worker, PostgreSQL
and Redis, the usage writer process), once with one busy key and once with 10,000 keys used in
rotation (every key cold once, then cached). Keys are cached for 10 s and dropped 10 s after
that when unused (TOLLWAY_KEY_CACHE_SECONDS, TOLLWAY_KEY_CACHE_KEEP_SECONDS; 60 s and 15 min by
default), so the sweep after the load comes within the bench's last two minutes.

    .venv/bin/python bench/memory.py [--seconds 60] [--keys 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import protected  # noqa: E402
from bench.cold_keys import seed  # noqa: E402
from tests.servers import PostgresServer, RedisServer  # noqa: E402
from tollway.db import acquire_database, release_database  # noqa: E402
from tollway.settings import Settings  # noqa: E402

ROTATION = """counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/hello", {["X-API-Key"] = keys[(counter % #keys) + 1]})
end
"""


AFTER = (10, 30, 90, 150)
"""Samples after the load, in seconds: the key sweep runs once a minute."""


def rss_mb(pid: int) -> int:
    """Resident set size of a process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) // 1024


def load(env: dict[str, str], wrk_args: list[str], seconds: int) -> list[tuple[str, int]]:
    """Serve the app, put it under `wrk`, and sample its RSS every 10 s and after."""
    served = protected.serve(env)
    port, pid = served.port, served.process.pid
    try:
        samples = [("idle", rss_mb(pid))]
        command = ["wrk", "-t1", "-c10", f"-d{seconds}s", *wrk_args]
        loaded = subprocess.Popen(
            [*command, f"http://127.0.0.1:{port}/hello"], stdout=subprocess.PIPE, text=True
        )
        started = time.monotonic()
        while loaded.poll() is None:
            time.sleep(10)
            samples.append((f"{time.monotonic() - started:.0f} s", rss_mb(pid)))
        output = loaded.communicate()[0]
        rate = output.split("Requests/sec:")[1].split()[0]
        samples.append((f"load ended ({float(rate):,.0f} req/s)", rss_mb(pid)))
        waited = 0
        for after in AFTER:
            time.sleep(after - waited)
            waited = after
            samples.append((f"{after} s after", rss_mb(pid)))
        return samples
    finally:
        served.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--keys", type=int, default=10_000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    state = Path(tempfile.mkdtemp(prefix="tollway-memory-"))
    postgres, redis = PostgresServer().start(), RedisServer().start()
    try:
        database_url = postgres.create_database()
        env = {
            **os.environ, "TOLLWAY_DATABASE_URL": database_url, "TOLLWAY_REDIS_URL": redis.url,
            "TOLLWAY_STATE_DIR": str(state), "TOLLWAY_KEY_CACHE_SECONDS": "10",
            "TOLLWAY_KEY_CACHE_KEEP_SECONDS": "10",
        }  # fmt: skip
        secret = protected.seed(env)
        keys = asyncio.run(seed_keys(database_url, args.keys))
        script = state / "rotation.lua"
        script.write_text("keys = {" + ",".join(json.dumps(k) for k in keys) + "}\n" + ROTATION)
        one = load(env, ["-H", f"X-API-Key: {secret}"], args.seconds)
        many = load(env, ["-s", str(script)], args.seconds)
    finally:
        postgres.destroy()
        redis.stop()
        shutil.rmtree(state, ignore_errors=True)
    print(f"| moment | one busy key, MiB | {args.keys:,} keys in rotation, MiB |")
    print("|---|---:|---:|")
    for (moment, first), (other, second) in zip(one, many, strict=True):
        label = moment if moment == other else f"{moment} / {other}"
        print(f"| {label} | {first} | {second} |")


async def seed_keys(database_url: str, count: int) -> list[str]:
    """`count` keys on the FREE plan; their secrets."""
    await acquire_database(Settings(database_url=database_url))
    try:
        return await seed(count)
    finally:
        await release_database()


if __name__ == "__main__":
    main()
