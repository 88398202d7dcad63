"""The `metrics` subscription merges the live counters of every middleware instance."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gql import gql

from tests.alerts.test_realtime import subscribe
from tests.clock import until
from tests.conftest import GraphQL, LiveServer
from tests.enforcement.conftest import Protected
from tests.keyhelpers import create_key
from tollway.auth.principal import Role

METRICS = gql(
    "subscription($k: ID) { metrics(intervalSeconds: 1, keyId: $k) "
    "{ at requests allowed rejected errors p50LatencyMs p95LatencyMs p99LatencyMs } }"
)


async def test_metrics_stream_counts_every_request_of_every_instance(
    gql: GraphQL, server: LiveServer, protected: Protected
) -> None:
    tenant = await gql.create_tenant("live")
    secret, key = await create_key(gql, tenant, rateLimits=[{"limit": 4, "windowSeconds": 3600}])
    admin = gql.token(Role.ADMIN, tenant)
    seen: list[dict[str, Any]] = []
    everything: list[dict[str, Any]] = []
    tasks = [
        await subscribe(server.base_url, admin, METRICS, {"k": key["id"]}, seen),
        await subscribe(server.base_url, admin, METRICS, {}, everything),
    ]
    try:
        statuses = []
        # The second instance writes usage from a child process, which summarises it there.
        process = server.settings.model_copy(update={"usage_writer": "process"})
        async with protected() as (first, _), protected(settings=process) as (second, _):
            for client, count in ((first, 6), (second, 5)):  # past the 4-per-hour window
                for _ in range(count):
                    response = await client.get("/a", headers={"X-API-Key": secret})
                    statuses.append(response.status_code)
            await first.get("/a", headers={"X-API-Key": "tw_live_" + "x" * 30})  # no tenant

            def total(points: list[dict[str, Any]], field: str) -> int:
                return sum(p["metrics"][field] for p in points)

            await until(lambda: total(seen, "requests") >= 11, timeout=15)
            await asyncio.sleep(3)
        admitted, refused = statuses.count(200), statuses.count(429)
        assert refused >= 3 and admitted + refused == 11
        assert (total(seen, "requests"), total(seen, "allowed")) == (11, admitted), json.dumps(seen)
        assert total(seen, "rejected") == refused and total(seen, "errors") == refused
        assert total(everything, "requests") == 11  # the unknown key is nobody's tenant's
        assert any(p["metrics"]["p99LatencyMs"] for p in seen)
        assert any(p["metrics"]["p95LatencyMs"] for p in seen)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
