"""Webhook delivery throughput: signed deliveries per second from one `tollway worker` to a
local receiver, then from two workers sharing the same PostgreSQL (claims use FOR UPDATE
SKIP LOCKED). The peer is a bare aiohttp client POSTing the same bodies with the same
concurrency: the ceiling for one Python process on this machine. Target: 500/s with one
worker.

    .venv/bin/python bench/webhooks.py [--messages 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from bench.ingest import migrate  # noqa: E402
from tests.processes import tollway_bin, tollway_env  # noqa: E402
from tests.servers import PostgresServer, free_port, wait_for_port  # noqa: E402
from tollway.crypto import SecretBox  # noqa: E402
from tollway.webhooks.signing import Signer, generate_secret  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef0123456789"
TARGET = 500.0
CONCURRENCY = 256
BODY = '{"type":"webhook.test","timestamp":"2026-01-01T00:00:00Z","data":{"n":1}}'


def receive(port: int) -> None:
    """A minimal ASGI receiver answering 204 (its own process, like a real consumer)."""
    import uvicorn

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        while True:
            message = await receive()  # type: ignore[operator]
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False,
                http="httptools", lifespan="off")  # fmt: skip


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=receive, args=(port,))
    process.start()
    wait_for_port(port)
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        process.terminate()
        process.join(5)


async def enqueue(dsn: str, url: str, count: int) -> None:
    """One tenant, one endpoint, `count` pending messages (inserted in bulk by SQL)."""
    conn = await asyncpg.connect(dsn)
    try:
        tenant = uuid.uuid4()
        endpoint = uuid.uuid4()
        sealed = SecretBox(SECRET, "webhook-secrets").seal(generate_secret())
        await conn.execute(
            "INSERT INTO tenants (id, name, status, metadata, created_at, updated_at, "
            "auto_disable_compromised_keys) VALUES ($1, $2, 'ACTIVE', '{}', now(), now(), false)",
            tenant, f"bench-{tenant.hex[:8]}",
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, "
            "headers, enabled, secret, created_at, updated_at) "
            "VALUES ($1, $2, $3, '', '[]', '{}', true, $4, now(), now())",
            endpoint, tenant, url, sealed,
        )  # fmt: skip
        await conn.execute(
            "WITH e AS (INSERT INTO webhook_events (id, tenant_id, type, data, created_at) "
            "SELECT gen_random_uuid(), $1, 'webhook.test', jsonb_build_object('n', n), "
            "now() FROM generate_series(1, $3) n RETURNING id) "
            "INSERT INTO webhook_messages (id, event_id, endpoint_id, tenant_id, event_type, "
            "status, attempts, step, trigger, next_attempt_at, created_at) "
            "SELECT gen_random_uuid(), e.id, $2, $1, 'webhook.test', 'PENDING', 0, 0, "
            "'SCHEDULED', now(), now() FROM e",
            tenant, endpoint, count,
        )  # fmt: skip
    finally:
        await conn.close()


def start_worker(database_url: str, state: str) -> subprocess.Popen[bytes]:
    env = tollway_env(
        database_url=database_url, secret_key=SECRET, state_dir=state,
        webhook_allow_private_networks="true", webhook_poll_seconds="0.05",
        alert_interval_seconds="3600", budget_interval_seconds="3600",
        rollup_interval_seconds="3600", worker_heartbeat_seconds="60",
    )  # fmt: skip
    return subprocess.Popen([tollway_bin(), "worker"], env=env, stdout=subprocess.DEVNULL)


async def run_workers(dsn: str, database_url: str, url: str, count: int, workers: int) -> float:
    """Deliveries per second: messages over the span from first attempt to last delivery."""
    await enqueue(dsn, url, count)
    with tempfile.TemporaryDirectory() as state:
        processes = [start_worker(database_url, state) for _ in range(workers)]
        try:
            conn = await asyncpg.connect(dsn)
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                left = await conn.fetchval(
                    "SELECT count(*) FROM webhook_messages WHERE status = 'PENDING'"
                )
                if left == 0:
                    break
                await asyncio.sleep(0.25)
            else:
                sys.exit("deliveries did not finish in 10 minutes")
            row = await conn.fetchrow(
                "SELECT count(*) n, min(a.attempted_at) started, max(m.delivered_at) finished "
                "FROM webhook_messages m JOIN webhook_attempts a ON a.message_id = m.id "
                "WHERE m.status = 'DELIVERED'"
            )
            await conn.execute("DELETE FROM webhook_events")
            await conn.execute("DELETE FROM webhook_attempts")
            await conn.close()
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
                process.wait(20)
    seconds = (row["finished"] - row["started"]).total_seconds()
    if row["n"] != count:
        sys.exit(f"expected {count} deliveries, found {row['n']}")
    return count / seconds


async def bare_client(url: str, count: int) -> float:
    """The peer: the same signed POSTs from a bare pooled aiohttp session (the client the
    dispatcher uses), nothing stored or read from a database."""
    signer = Signer()
    secret = generate_secret()
    semaphore = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(n: int) -> None:
            async with semaphore:
                headers = signer.headers(
                    f"msg_{n}", datetime.now(UTC), body=BODY, secrets_=[secret]
                )
                async with session.post(url, data=BODY, headers=headers) as response:
                    await response.read()
                    response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(count)))
        return count / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()
    postgres = PostgresServer().start()
    try:
        database_url = postgres.create_database()
        migrate(database_url)
        dsn = database_url.replace("postgres://", "postgresql://", 1)
        with receiver() as url:
            peer = await bare_client(url, args.messages)
            one = await run_workers(dsn, database_url, url, args.messages, 1)
            two = await run_workers(dsn, database_url, url, args.messages, 2)
    finally:
        postgres.destroy()
    print(f"webhook deliveries, {args.messages:,} messages, {os.cpu_count()} cores, PostgreSQL")
    print(f"  bare aiohttp client (peer, no database):  {peer:8.0f}/s")
    print(f"  tollway worker x1:                        {one:8.0f}/s  ({one / peer:.2f} of peer)")
    print(
        f"  tollway worker x2:                        {two:8.0f}/s  ({two / one:.2f}x one worker)"
    )
    verdict = "met" if one >= TARGET else "NOT met"
    print(f"  target {TARGET:.0f}/s with one worker: {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
