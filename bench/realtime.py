"""Realtime: how fast a stored alert reaches 1,000 websocket subscribers spread over two
Tollway instances sharing PostgreSQL and Redis, and how far the `metrics` stream drifts from
the true request count. Target: an alert stored to received in under 1 s end to end.

    .venv/bin/python bench/realtime.py [--subscribers 1000] [--alerts 20] [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import websockets  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from bench.ingest import migrate  # noqa: E402
from tests.processes import serving  # noqa: E402
from tests.servers import PostgresServer, RedisServer  # noqa: E402
from tollway.enforcement import EnforcementMiddleware  # noqa: E402
from tollway.settings import load_settings  # noqa: E402

TOKEN = "bench-admin-token"
SECRET = "bench-secret-key-0123456789abcdef0123456789"
TARGET_MS = 1000.0
ALERTS = "subscription { alerts { id kind status openedAt } }"
METRICS = "subscription { metrics(intervalSeconds: 1) { at requests } }"
CREATE_TENANT = "mutation($n: String!) { createTenant(input: {name: $n}) { tenant { id } } }"
CREATE_KEY = """mutation($t: ID!) { createApiKey(input: {tenantId: $t, name: "rt",
  rateLimits: [{limit: 1000000, windowSeconds: 60}]}) { secret apiKey { id } } }"""
REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }"
VERIFY = "mutation($k: String!) { verifyApiKey(key: $k) { code } }"


async def subscriber(
    url: str, query: str, ready: asyncio.Event, on_next: Any, count: list[int], total: int
) -> None:
    """One graphql-transport-ws client; calls `on_next(payload, received_at)`."""
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {
            "Authorization": f"Bearer {TOKEN}"}}))  # fmt: skip
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        count[0] += 1
        if count[0] == total:
            ready.set()
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "next":
                on_next(message["payload"]["data"], time.time())


async def admin_call(http: httpx.AsyncClient, query: str, **variables: Any) -> Any:
    """One admin GraphQL call; exits on an error."""
    body = (await http.post("/graphql", json={"query": query, "variables": variables})).json()
    if body.get("errors"):
        sys.exit(f"GraphQL error: {body['errors']}")
    return body["data"]


async def new_tenant(http: httpx.AsyncClient) -> str:
    data = await admin_call(http, CREATE_TENANT, n=f"rt-{uuid.uuid4().hex[:8]}")
    return str(data["createTenant"]["tenant"]["id"])


async def alert_latency(
    urls: list[str], subscribers: int, alerts: int
) -> tuple[list[float], list[float]]:
    """For every (alert, subscriber): ms from the alert's opening (its `openedAt`, taken just
    before it is stored) to receipt, and ms from the offending request to receipt."""
    opened: dict[str, float] = {}
    received: list[tuple[str, float]] = []
    ready, count = asyncio.Event(), [0]

    def on_alert(data: dict[str, Any], at: float) -> None:
        alert = data["alerts"]
        if alert["kind"] == "REVOKED_KEY_USED" and alert["status"] == "OPEN":
            opened[alert["id"]] = datetime.fromisoformat(alert["openedAt"]).timestamp()
            received.append((alert["id"], at))

    def ws_url(i: int) -> str:
        return urls[i % 2].replace("http://", "ws://") + "/graphql"

    tasks = [
        asyncio.create_task(subscriber(ws_url(i), ALERTS, ready, on_alert, count, subscribers))
        for i in range(subscribers)
    ]
    await asyncio.wait_for(ready.wait(), 120)
    await asyncio.sleep(2)  # every subscription registered with the broadcaster
    detected: list[float] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(base_url=urls[0], headers=headers, timeout=30) as http:
            tenant = await new_tenant(http)
            for _ in range(alerts):
                key = (await admin_call(http, CREATE_KEY, t=tenant))["createApiKey"]
                await admin_call(http, REVOKE, id=key["apiKey"]["id"])
                before = len(received)
                used = time.time()
                await admin_call(http, VERIFY, k=key["secret"])  # a revoked key, used on A
                while len(received) < before + subscribers and time.time() < used + 30:
                    await asyncio.sleep(0.01)
                detected += [(at - used) * 1000 for _, at in received[before:]]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    missing = alerts * subscribers - len(received)
    if missing:
        print(f"  {missing} deliveries missing")
    return [(at - opened[alert_id]) * 1000 for alert_id, at in received], detected


async def metrics_drift(
    urls: list[str], requests: int, database_url: str, redis_url: str, state: Path
) -> tuple[int, int]:
    """(requests sent through two middleware instances, requests the metrics stream counted)."""
    counted = [0]
    ready, count = asyncio.Event(), [0]
    task = asyncio.create_task(subscriber(
        urls[1].replace("http://", "ws://") + "/graphql", METRICS, ready,
        lambda data, at: counted.__setitem__(0, counted[0] + data["metrics"]["requests"]),
        count, 1,
    ))  # fmt: skip
    await asyncio.wait_for(ready.wait(), 30)
    await asyncio.sleep(1)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=urls[0], headers=headers, timeout=30) as http:
        tenant = await new_tenant(http)
        key = (await admin_call(http, CREATE_KEY, t=tenant))["createApiKey"]["secret"]
    app = Starlette(routes=[Route("/", lambda r: PlainTextResponse("ok"))])
    instances = []
    for name in ("m1", "m2"):
        settings = load_settings(
            database_url=database_url,
            redis_url=redis_url,
            secret_key=SECRET,
            state_dir=state / name,
        )
        instances.append(EnforcementMiddleware(app, settings=settings))
    try:
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=m), base_url="http://api")
            for m in instances
        ]
        statuses: dict[int, int] = {}
        for i in range(requests):
            response = await clients[i % 2].get("/", headers={"X-API-Key": key})
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        sent = sum(statuses.values())
        if set(statuses) != {200}:
            print(f"  responses: {statuses}")
        await asyncio.sleep(5)  # flushes, then the grace period of the last interval
        for client in clients:
            await client.aclose()
    finally:
        for m in instances:
            await m.runtime.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    return sent, counted[0]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


async def run(args: argparse.Namespace, database_url: str, redis_url: str, state: Path) -> None:
    common = {"database_url": database_url, "redis_url": redis_url, "admin_token": TOKEN,
              "secret_key": SECRET, "alert_interval_seconds": "1"}  # fmt: skip
    with (
        serving(state_dir=str(state / "a"), **common) as a,
        serving(state_dir=str(state / "b"), **common) as b,
    ):
        delivery, detection = await alert_latency([a, b], args.subscribers, args.alerts)
        sent, counted = await metrics_drift([a, b], args.requests, database_url, redis_url, state)
    p99 = percentile(delivery, 0.99)
    verdict = "met" if p99 < TARGET_MS else "MISSED"
    print(f"\n{args.subscribers} websocket subscribers over 2 instances, {args.alerts} alerts, "
          f"{len(delivery):,} deliveries")  # fmt: skip
    print("| measure | p50 | p99 | target |")
    print("|---|---:|---:|---|")
    print(f"| alert opened (stored) -> received | {percentile(delivery, 0.5):.1f} ms | "
          f"{p99:.1f} ms | < {TARGET_MS:.0f} ms: {verdict} |")  # fmt: skip
    print(f"| offending request -> alert received | {percentile(detection, 0.5):.0f} ms | "
          f"{percentile(detection, 0.99):.0f} ms | 30 s (seed) |")  # fmt: skip
    print(
        f"\nmetrics stream: {counted:,} requests counted of {sent:,} sent "
        f"through two middleware instances (drift {counted - sent:+d})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--alerts", type=int, default=20)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="tollway-realtime-"))
    postgres, redis = PostgresServer().start(), RedisServer().start()
    try:
        url = postgres.create_database()
        migrate(url)
        asyncio.run(run(args, url, redis.url, state))
    finally:
        redis.stop()
        postgres.destroy()


if __name__ == "__main__":
    main()
