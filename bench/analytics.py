"""Analytics at dashboard speed: with 10 million usage events over 30 days in PostgreSQL,
`usage` and a 30-day daily cost breakdown through GraphQL (target under 100 ms each),
measured in the same run as the naive queries over the raw events, whose answers they must
equal.

    .venv/bin/python bench/analytics.py [--events 10000000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tortoise import connections  # noqa: E402

from bench.ingest import migrate  # noqa: E402
from tests.servers import PostgresServer  # noqa: E402
from tollway.app import build_app  # noqa: E402
from tollway.db import acquire_database, release_database  # noqa: E402
from tollway.metering.rollups import RollupJob  # noqa: E402
from tollway.models import PriceRate  # noqa: E402
from tollway.settings import Settings  # noqa: E402

TOKEN = "bench-admin-token"
TARGET_MS = 100.0
PRICE = Decimal("0.00013")
USAGE = """query($f: DateTime!, $t: DateTime!, $tenant: ID) { usage(from: $f, to: $t,
  tenantId: $tenant) { totalRequests errorRequests rejectedRequests p50LatencyMs p95LatencyMs
  p99LatencyMs } }"""
COSTS = """query($f: DateTime!, $t: DateTime!, $tenant: ID) { costs(from: $f, to: $t,
  groupBy: [DAY], tenantId: $tenant) { day amount units } }"""
NAIVE_USAGE = """SELECT COUNT(*) AS total, SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors,
  SUM(CASE WHEN error_code IS NOT NULL THEN 1 ELSE 0 END) AS rejected,
  percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms) AS pct
  FROM usage_events WHERE tenant_id = $1 AND at >= $2 AND at < $3"""
NAIVE_COSTS = """SELECT date_trunc('day', at) AS day, SUM(units) AS units FROM usage_events
  WHERE tenant_id = $1 AND at >= $2 AND at < $3 GROUP BY 1 ORDER BY 1"""


GENERATE = """INSERT INTO usage_events (event_id, at, tenant_id, key_id, method, route, path,
  status, error_code, latency_ms, request_bytes, response_bytes, client_ip, user_agent,
  api_version, cost_units, service, units, unit_type, cost)
SELECT gen_random_uuid(), $2::timestamptz + random() * ($3::timestamptz - $2::timestamptz),
  (($4::uuid[])[k % 5 + 1]), (($5::uuid[])[k + 1]), 'GET',
  'GET /v1/resource' || floor(random() * 12)::int || '/{id}', '/v1/x',
  CASE WHEN roll < 0.03 THEN 429 WHEN roll < 0.05 THEN 500 ELSE 200 END,
  CASE WHEN roll < 0.03 THEN 'RATE_LIMIT_EXCEEDED' END,
  exp(3.0 + 0.8 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())),
  0, 800, '198.51.100.1', 'bench', NULL, 1, NULL,
  (ARRAY[1, 1, 2, 5])[floor(random() * 4)::int + 1], 'requests', NULL
FROM (SELECT floor(random() * 50)::int AS k, random() AS roll
      FROM generate_series(1, $1)) AS draws"""


async def generate(count: int, tenants: list[str], start: datetime, end: datetime) -> None:
    """`count` events over [start, end), drawn inside PostgreSQL (a Python generator feeding
    the usage writer manages about 10k events/s here; ingestion speed is bench/ingest.py's
    subject): 50 keys over the tenants, 12 routes, 3% rejected, 2% server errors, lognormal
    latencies around 20 ms."""
    conn = connections.get("default")
    await conn.execute_query("SELECT setseed(0.42)")
    keys = [uuid.UUID(int=random.Random(k).getrandbits(128)) for k in range(50)]
    chunk = 1_000_000
    for offset in range(0, count, chunk):
        size = min(chunk, count - offset)
        await conn.execute_query(
            GENERATE, [size, start, end, [uuid.UUID(t) for t in tenants], keys]
        )
        print(f"  {offset + size:>12,} events written", end="\r", flush=True)
    print()


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> tuple[list[float], Any]:
    """Milliseconds of each call, and the last answer."""
    times, answer = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = await call()
        times.append((time.perf_counter() - started) * 1000)
    return times, answer


async def run(count: int, repeat: int, database_url: str, workdir: Path) -> None:
    settings = Settings(
        database_url=database_url, state_dir=workdir, admin_token=TOKEN, secret_key="b" * 40
    )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start, end = now - timedelta(days=30), now - timedelta(minutes=1)
    tenants = [str(uuid.uuid4()) for _ in range(5)]
    await acquire_database(settings)
    try:
        began = time.perf_counter()
        await generate(count, tenants, start, end)
        print(f"generated {count:,} events in {time.perf_counter() - began:.0f} s", flush=True)
        await PriceRate.create(
            service="api", unit_price=PRICE, currency="USD", tiers=[],
            effective_from=(start - timedelta(days=1)).date(),
        )  # fmt: skip
        began = time.perf_counter()
        minutes = await RollupJob(minute_retention=timedelta(days=2)).run()
        print(f"rolled up {minutes:,} minutes in {time.perf_counter() - began:.0f} s", flush=True)
        await connections.get("default").execute_script("ANALYZE")
        app = build_app(settings, run_worker=False)
        tenant = tenants[0]
        variables = {"f": start.isoformat(), "t": (now + timedelta(minutes=1)).isoformat(),
                     "tenant": tenant}  # fmt: skip
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://t", headers=headers
            ) as http:

                async def graphql(query: str) -> dict[str, Any]:
                    response = await http.post(
                        "/graphql", json={"query": query, "variables": variables}
                    )
                    body: dict[str, Any] = response.json()
                    if body.get("errors"):
                        sys.exit(f"GraphQL error: {body['errors']}")
                    return body["data"]

                await graphql(USAGE)  # warm
                usage_ms, usage = await timed(lambda: graphql(USAGE), repeat)
                costs_ms, costs = await timed(lambda: graphql(COSTS), repeat)
        conn = connections.get("default")
        params = [uuid.UUID(tenant), start, now + timedelta(minutes=1)]
        naive_usage_ms, naive_usage = await timed(
            lambda: conn.execute_query_dict(NAIVE_USAGE, params), 3
        )
        naive_costs_ms, naive_days = await timed(
            lambda: conn.execute_query_dict(NAIVE_COSTS, params), 3
        )
    finally:
        await release_database()
    check(usage["usage"], naive_usage[0], costs["costs"], naive_days)
    rows = [
        ("usage, 30 days (GraphQL)", usage_ms, naive_usage_ms),
        ("daily costs, 30 days (GraphQL)", costs_ms, naive_costs_ms),
    ]
    print(f"\n{count:,} events over 30 days, 5 tenants; one tenant queried; medians of {repeat}")
    print("| query | Tollway p50 ms | p95 ms | naive SQL over raw p50 ms | speed-up | target |")
    print("|---|---:|---:|---:|---:|---|")
    for name, ours, naive in rows:
        p50, p95 = statistics.median(ours), sorted(ours)[int(0.95 * (len(ours) - 1))]
        naive_p50 = statistics.median(naive)
        verdict = "met" if p95 < TARGET_MS else "MISSED"
        print(
            f"| {name} | {p50:.1f} | {p95:.1f} | {naive_p50:,.0f} | "
            f"{naive_p50 / p50:,.0f}x | {verdict} |"
        )


def check(
    usage: dict[str, Any],
    naive: dict[str, Any],
    costs: list[dict[str, Any]],
    days: list[dict[str, Any]],
) -> None:
    """Tollway's answers equal the naive ones (percentiles within the sketch's 1%)."""
    if usage["totalRequests"] != naive["total"] or usage["errorRequests"] != naive["errors"]:
        sys.exit(f"usage differs: {usage} vs {naive}")
    for field, exact in zip(
        ("p50LatencyMs", "p95LatencyMs", "p99LatencyMs"), naive["pct"], strict=True
    ):
        if abs(usage[field] - exact) > 0.01 * exact + 0.001:
            sys.exit(f"{field} {usage[field]} vs exact {exact}")
    ours = {c["day"]: Decimal(c["amount"]) for c in costs}
    theirs = {str(d["day"].date()): PRICE * int(d["units"]) for d in days}
    if ours != theirs:
        sys.exit(f"costs differ: {sorted(set(ours.items()) ^ set(theirs.items()))[:4]}")
    print("answers checked: totals and costs equal the naive queries, percentiles within 1%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tollway-analytics-"))
    postgres = PostgresServer().start()
    try:
        url = postgres.create_database()
        migrate(url)
        asyncio.run(run(args.events, args.repeat, url, workdir))
    finally:
        postgres.destroy()


if __name__ == "__main__":
    main()
