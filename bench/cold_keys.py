"""Cold key lookups: records per second for keys not in any cache, on PostgreSQL, with 10,000
distinct keys used in rotation by concurrent requests, through the key cache the middleware
uses (one query per lookup). The peer, in the same run: the same records read with the ORM
(`select_related` over the secret, key, plan and tenant), as Tollway did before. Target: 2,000
cold lookups a second per process.

    .venv/bin/python bench/cold_keys.py [--keys 10000] [--concurrency 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import PostgresServer  # noqa: E402
from tollway.db import acquire_database, release_database  # noqa: E402
from tollway.keys.cache import KeyCache  # noqa: E402
from tollway.keys.plans import ensure_default_plans  # noqa: E402
from tollway.keys.records import KeyRecord, fetch_key_record, record_of  # noqa: E402
from tollway.keys.secrets import hash_secret  # noqa: E402
from tollway.models import ApiKey, ApiKeySecret, Plan, Tenant  # noqa: E402
from tollway.settings import Settings  # noqa: E402

TARGET = 2_000
Loader = Callable[[str], Awaitable[KeyRecord | None]]


async def orm_lookup(secret_hash: str) -> KeyRecord | None:
    """The peer: the same record read through the ORM (four models, `select_related`)."""
    secret = await ApiKeySecret.get_or_none(hash=secret_hash).select_related(
        "key", "key__plan", "key__tenant"
    )
    if secret is None:
        return None
    key, plan = secret.key, secret.key.plan
    return record_of(
        {
            "id": key.id, "tenant_id": key.tenant_id, "name": key.name, "prefix": key.prefix,
            "environment": key.environment.value, "owner_type": key.owner_type.value,
            "owner_id": key.owner_id, "status": key.status.value, "expires_at": key.expires_at,
            "scopes": key.scopes, "allowed_ips": key.allowed_ips,
            "allowed_origins": key.allowed_origins, "rate_limits": key.rate_limits,
            "quota": key.quota, "secret_expires_at": secret.expires_at,
            "tenant_status": key.tenant.status.value, "plan_name": plan.name if plan else None,
            "plan_rate_limits": plan.rate_limits if plan else None,
            "plan_quota": plan.quota if plan else None,
        }
    )  # fmt: skip


async def seed(count: int) -> list[str]:
    """`count` keys of one tenant on the FREE plan; their secrets."""
    await ensure_default_plans()
    plan = await Plan.get(name="FREE")
    tenant = await Tenant.create(id=uuid.uuid4(), name=f"bench-{time.time_ns()}")
    keys, hashes, plain = [], [], []
    for number in range(count):
        secret = "tw_live_" + secrets.token_urlsafe(24)
        key = ApiKey(
            id=uuid.uuid4(), tenant_id=tenant.id, name=f"k{number}", prefix=secret[:12],
            masked_key=secret[:12] + "…", plan_id=plan.id,
        )  # fmt: skip
        keys.append(key)
        hashes.append(ApiKeySecret(hash=hash_secret(secret), key_id=key.id))
        plain.append(secret)
    await ApiKey.bulk_create(keys, batch_size=1000)
    await ApiKeySecret.bulk_create(hashes, batch_size=1000)
    return plain


async def cold_rate(loader: Loader, keys: list[str], concurrency: int) -> float:
    """Lookups a second, each key once, through a fresh cache (every lookup is cold)."""
    cache = KeyCache(loader)
    queue = iter(keys)

    async def client() -> None:
        for secret in queue:
            assert await cache.for_secret(secret) is not None

    started = time.perf_counter()
    await asyncio.gather(*[client() for _ in range(concurrency)])
    return len(keys) / (time.perf_counter() - started)


async def run(settings: Settings, args: argparse.Namespace) -> None:
    await acquire_database(settings)
    try:
        keys = await seed(args.keys)
        best: dict[str, float] = {}
        for round_number in range(1, args.rounds + 1):
            for name, loader in (("one query", fetch_key_record), ("ORM peer", orm_lookup)):
                rate = await cold_rate(loader, keys, args.concurrency)
                best[name] = max(best.get(name, 0.0), rate)
                print(f"round {round_number} {name:10} {rate:8.0f} cold lookups/s", flush=True)
    finally:
        await release_database()
    ours, peer = best["one query"], best["ORM peer"]
    print(f"\nbest of {args.rounds} rounds, {args.keys:,} keys, {args.concurrency} concurrent:")
    print("| lookup | cold lookups/s | vs ORM |")
    print("|---|---:|---:|")
    print(f"| one query (Tollway) | {ours:,.0f} | {ours / peer:.2f}x |")
    print(f"| ORM select_related (peer) | {peer:,.0f} | 1.00x |")
    verdict = "met" if ours >= TARGET else "MISSED"
    print(f"\none query: {ours:,.0f}/s (target >= {TARGET:,}) {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    postgres = PostgresServer().start()
    try:
        database_url = postgres.create_database()
        subprocess.run(
            [sys.executable, "-c", "from tollway.cli import main; main()", "migrate"],
            env={"TOLLWAY_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        asyncio.run(run(Settings(database_url=database_url), args))
    finally:
        postgres.destroy()


if __name__ == "__main__":
    main()
