"""One `tollway serve` process shares one Redis pool, one limit-storage connection and one
event bus between its admin API, its enforcement runtime and its worker: counted by the
server's own `CLIENT LIST` on a Redis of the test's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import redis

from tests.processes import run_tollway, serving
from tests.servers import RedisServer

TOKEN = "twadm_connections-test-token"


def call(base: str, query: str, token: str = TOKEN) -> Any:
    answer = httpx.post(
        f"{base}/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )
    return answer.json()


def use_every_part(base: str) -> None:
    """Health (the pool), a verified key (the runtime's limits), a failed login (the admin
    API's login throttle, the same limits), and an alert subscription's bus."""
    assert call(base, "{ health { status } }")["data"]["health"]["status"] == "HEALTHY"
    tenant = call(base, 'mutation { createTenant(input: {name: "c"}) { tenant { id } } }')
    tenant_id = tenant["data"]["createTenant"]["tenant"]["id"]
    key = call(base, f'mutation {{ createApiKey(input: {{tenantId: "{tenant_id}", name: "k"}}) '
               "{ secret } }")["data"]["createApiKey"]["secret"]  # fmt: skip
    verdict = call(base, f'mutation {{ verifyApiKey(key: "{key}") {{ valid }} }}')
    assert verdict["data"]["verifyApiKey"]["valid"] is True
    assert call(base, "{ me { role } }", token="wrong")["errors"]


def test_one_pool_one_limits_connection_one_subscriber(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    database = f"sqlite://{tmp_path}/tollway.db"
    assert run_tollway("migrate", database_url=database).returncode == 0
    with serving(
        database_url=database, redis_url=own_redis.url, admin_token=TOKEN,
        state_dir=str(tmp_path), webhook_dispatch="false",
    ) as base:  # fmt: skip
        use_every_part(base)
        with redis.Redis.from_url(own_redis.url) as client:
            clients = [c for c in client.client_list() if c["cmd"] != "client|list"]
    named = [c["name"] for c in clients if c["name"].startswith("tollway:")]
    pools = {name for name in named if not name.endswith(":limits")}
    assert len(pools) == 1, clients
    assert sum(name.endswith(":limits") for name in named) == 1, clients
    assert sum("P" in c["flags"] for c in clients) == 1, clients  # the bus's subscriber
