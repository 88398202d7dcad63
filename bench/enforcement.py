"""Enforcement throughput and added latency: wrk on loopback against one uvicorn worker each of

- the bare Starlette app (the ceiling),
- a pass-through middleware adding five fixed headers (the floor for any limiter),
- two references for what Python can do at all: the least any key limiter does (a dict
  lookup, one counter, the headers computed), and the least a middleware does for the
  configuration below (two sliding windows and a quota counted in dicts, the headers, a usage
  record appended to a list); neither checks, refuses, shares or writes anything,
- Tollway's middleware embedded: memory backend, SQLite (usage written on the serving loop),
- the same with the usage writer process (`TOLLWAY_USAGE_WRITER=process`),
- Tollway's middleware in production: Redis and PostgreSQL (usage written by a child process,
  the default on PostgreSQL),
- slowapi with Redis storage (the common Python alternative), two windows.

Tollway runs with auth, two windows, a monthly quota and usage capture on. All run in the
same invocation, interleaved over several rounds (best round kept), because the machine is
shared and noisy; ratios to the bare app are what to read.

    .venv/bin/python bench/enforcement.py [--seconds 6] [--rounds 5] [--connections 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import PostgresServer, RedisServer, free_port, wait_for_port  # noqa: E402
from tollway.auth.principal import Principal, Role  # noqa: E402
from tollway.db import acquire_database, release_database  # noqa: E402
from tollway.keys.limits import QuotaSpec, WindowSpec  # noqa: E402
from tollway.keys.plans import ensure_default_plans  # noqa: E402
from tollway.ratelimit import QuotaPeriod  # noqa: E402
from tollway.settings import Settings  # noqa: E402

TARGETS = {"tollway-redis": 0.55}
"""Throughput targets as a share of bare Starlette, in the exact default mode."""


@dataclass(frozen=True)
class Result:
    """One wrk run."""

    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


async def seed_key(settings: Settings) -> str:
    """A tenant and a key with two windows and a quota; returns the secret."""
    from tollway.app import build_services

    services = build_services(settings)
    await acquire_database(settings)
    try:
        await ensure_default_plans()
        root = Principal(subject="bench", role=Role.SUPER_ADMIN)
        tenant = await services.tenants.create(root, f"bench-{time.time_ns()}", metadata={})
        from tollway.keys.service import NewKey

        _, secret = await services.keys.create(
            root,
            NewKey(
                tenant_id=tenant.id,
                name="bench",
                rate_limits=[WindowSpec(1_000_000_000, 60), WindowSpec(1_000_000_000, 3600)],
                quota=QuotaSpec(10**15, QuotaPeriod.MONTH),
            ),
        )
    finally:
        await release_database()
    return secret


def parse_wrk(output: str) -> Result:
    """Requests/sec and the 50th and 99th latency percentiles from `wrk --latency`."""

    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return Result(rps, p50, p99, int(bad.group(1)) if bad else 0)


def wrk(port: int, secret: str, seconds: float, connections: int, path: str = "/") -> Result:
    """One wrk run with the key in X-API-Key."""
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
        "-H", f"X-API-Key: {secret}", f"http://127.0.0.1:{port}{path}",
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


class Served:
    """One app under one uvicorn worker: `factory` of `bench/apps.py`, or `target`."""

    def __init__(self, factory: str, env: dict[str, str], target: str = "") -> None:
        self.port = free_port()
        command = [
            sys.executable, "-m", "uvicorn", target or f"bench.apps:{factory}", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            "--no-access-log", "--log-level", "warning", "--loop", "uvloop", "--http", "httptools",
            "--no-proxy-headers",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
        wait_for_port(self.port, timeout=30)

    def warm(self, secret: str) -> None:
        """First requests load the key and open connections."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/", headers={"X-API-Key": secret}
        )
        for _ in range(20):
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 200, response.status

    def stop(self) -> None:
        """Terminate the worker."""
        self.process.terminate()
        self.process.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="tollway-bench-"))
    redis = RedisServer().start()
    postgres = PostgresServer().start()
    # Embedded (SQLite, memory limiter) and production (PostgreSQL, Redis), as deployed.
    embedded = {"TOLLWAY_DATABASE_URL": f"sqlite://{workdir}/bench.db"}
    production = {
        "TOLLWAY_DATABASE_URL": postgres.create_database(),
        "TOLLWAY_REDIS_URL": redis.url,
    }
    secrets = {}
    for name, env in (("embedded", embedded), ("production", production)):
        env["TOLLWAY_STATE_DIR"] = str(workdir / name)
        subprocess.run(
            [sys.executable, "-c", "from tollway.cli import main; main()", "migrate"],
            cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True,
        )  # fmt: skip
        settings = Settings(database_url=env["TOLLWAY_DATABASE_URL"], state_dir=workdir / name)
        secrets[name] = asyncio.run(seed_key(settings))
    reference = {"BENCH_SECRET": secrets["embedded"]}
    peers = {
        "bare-starlette": ("bare", {}, secrets["embedded"]),
        "headers-only": ("headers_only", {}, secrets["embedded"]),
        "minimal-limiter": ("minimal_limiter", reference, secrets["embedded"]),
        "minimal-config": ("minimal_configuration", reference, secrets["embedded"]),
        "tollway-memory": ("tollway", embedded, secrets["embedded"]),
        "tollway-memory-proc": (
            "tollway",
            {**embedded, "TOLLWAY_USAGE_WRITER": "process"},
            secrets["embedded"],
        ),
        "tollway-redis": ("tollway", production, secrets["production"]),
        "slowapi-redis": ("slowapi_redis", {"BENCH_REDIS_URL": redis.url}, secrets["embedded"]),
    }
    best: dict[str, Result] = {}
    try:
        for round_number in range(1, args.rounds + 1):
            for name, (factory, env, secret) in peers.items():
                served = Served(factory, env)
                try:
                    served.warm(secret)
                    wrk(served.port, secret, 2, args.connections)  # warm-up
                    result = wrk(served.port, secret, args.seconds, args.connections)
                finally:
                    served.stop()
                if result.non_2xx:
                    sys.exit(f"{name}: {result.non_2xx} requests refused; the limits are wrong")
                print(
                    f"round {round_number} {name:19} {result.rps:9.0f} req/s  "
                    f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms",
                    flush=True,
                )
                if name not in best or result.rps > best[name].rps:
                    best[name] = result
    finally:
        redis.stop()
        postgres.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    report(best, args.connections)


def report(best: dict[str, Result], connections: int) -> None:
    """The table for README.md, with ratios and targets."""
    bare = best["bare-starlette"]
    slowapi = best["slowapi-redis"]
    print(f"\nbest of rounds, {connections} connections, one uvicorn worker (uvloop, httptools):")
    print("| app | req/s | vs bare | p50 ms | p99 ms | p99 added ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in best.items():
        print(
            f"| {name} | {r.rps:,.0f} | {r.rps / bare.rps:.2f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {r.p99_ms - bare.p99_ms:+.2f} |"
        )
    redis_vs_slowapi = best["tollway-redis"].rps / slowapi.rps
    print(f"\ntollway-redis / slowapi-redis: {redis_vs_slowapi:.2f}x (target >= 3)")
    for name in ("minimal-limiter", "minimal-config"):
        print(f"{name} / bare: {best[name].rps / bare.rps:.2f} (reference)")
    for name, target in TARGETS.items():
        ratio = best[name].rps / bare.rps
        verdict = "met" if ratio >= target else "MISSED"
        print(f"{name} / bare: {ratio:.2f} (target >= {target}) {verdict}")


if __name__ == "__main__":
    main()
