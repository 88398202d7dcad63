"""A database outage longer than the key-cache time: throughput of a cached key while
PostgreSQL is stopped, against the same app's throughput before (the peer, in the same run),
and how fast a key never seen is refused meanwhile. Target: at least 0.8 of before, no 5xx.

The protected app (`tests/metering/usage_app.py`, one uvicorn worker, key cache 1 s) serves
`wrk -t1 -c10` on loopback; PostgreSQL is stopped between the two runs, and the second starts
once the cache time has passed.

    .venv/bin/python bench/outage.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import protected  # noqa: E402
from bench.enforcement import Result, wrk  # noqa: E402
from tests.servers import PostgresServer  # noqa: E402

TARGET = 0.8


def refused_in_ms(port: int) -> tuple[int, float]:
    """Status of a request with a key never seen, and how long it took."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hello", headers={"X-API-Key": "tw_live_" + "n" * 32}
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    state = Path(tempfile.mkdtemp(prefix="tollway-outage-"))
    postgres = PostgresServer().start()
    served = None
    try:
        env = {
            **os.environ, "TOLLWAY_DATABASE_URL": postgres.create_database(),
            "TOLLWAY_STATE_DIR": str(state), "TOLLWAY_KEY_CACHE_SECONDS": "1",
        }  # fmt: skip
        env.pop("TOLLWAY_REDIS_URL", None)
        secret = protected.seed(env)
        served = protected.serve(env)
        port = served.port
        wrk(port, secret, 2, 10, path="/hello")  # warm-up
        before = wrk(port, secret, args.seconds, 10, path="/hello")
        postgres.stop()
        time.sleep(1.5)  # past the key-cache time
        during = wrk(port, secret, args.seconds, 10, path="/hello")
        status, refused_ms = refused_in_ms(port)
        postgres.start()
    finally:
        if served is not None:
            served.stop()
        postgres.destroy()
        shutil.rmtree(state, ignore_errors=True)
    report(before, during, status, refused_ms)


def report(before: Result, during: Result, status: int, refused_ms: float) -> None:
    """The table for docs/benchmarks.md."""
    ratio = during.rps / before.rps
    print("| phase | req/s | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|")
    print(f"| database up | {before.rps:,.0f} | {before.p99_ms:.2f} | {before.non_2xx} |")
    print(f"| database down, past the cache time | {during.rps:,.0f} | {during.p99_ms:.2f} | "
          f"{during.non_2xx} |")  # fmt: skip
    print(f"\na key never seen, database down: HTTP {status} in {refused_ms:.1f} ms")
    verdict = "met" if ratio >= TARGET and during.non_2xx == 0 else "MISSED"
    print(f"down / up: {ratio:.2f} (target >= {TARGET}, no 5xx) {verdict}")


if __name__ == "__main__":
    main()
