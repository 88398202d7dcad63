"""`recordUsage`: reported usage is idempotent, tenant-bound and validated."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import GraphQL
from tests.keyhelpers import create_key
from tests.metering.traffic import roll_up
from tollway.auth.principal import Role
from tollway.metering.rollups import RollupJob

RECORD = """mutation($e: [UsageEventInput!]!) { recordUsage(events: $e) { accepted } }"""
CREATE_SERVICE = """mutation($i: CreateMeteredServiceInput!) {
  createMeteredService(input: $i) { id name unitType currency } }"""
USAGE = """query($f: DateTime!, $t: DateTime!, $tenant: ID, $service: String) {
  usage(from: $f, to: $t, tenantId: $tenant, filter: {service: $service}) {
    totalRequests units reportedCost } }"""


async def new_service(gql: GraphQL, unit_type: str = "tokens", currency: str = "USD") -> str:
    name = f"llm-{uuid.uuid4().hex[:8]}"
    data = await gql.data(
        CREATE_SERVICE, {"i": {"name": name, "unitType": unit_type, "currency": currency}}
    )
    assert data["createMeteredService"]["unitType"] == unit_type
    return name


def event(service: str, event_id: str, **fields: Any) -> dict[str, Any]:
    return {"eventId": event_id, "service": service, "units": 1500, **fields}


async def test_reported_usage_is_counted_once(gql: GraphQL) -> None:
    tenant = await gql.create_tenant("reporter")
    _, key = await create_key(gql, tenant)
    service = await new_service(gql)
    token = gql.token(Role.SERVICE, tenant)
    at = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    events = [
        event(service, "call-1", cost="0.012345", at=at, apiKeyId=key["id"], latencyMs=812.5),
        event(service, "call-2", cost="0.5", currency="USD", units=20, status=429),
    ]
    for _ in range(2):  # a retried report stores nothing twice
        data = await gql.data(RECORD, {"e": events}, token=token)
        assert data["recordUsage"]["accepted"] == 2
    await roll_up(RollupJob(minute_retention=timedelta(days=2)))  # the 10-minute-old event is late
    window = {
        "f": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "t": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
        "service": service,
    }
    reader = gql.token(Role.VIEWER, tenant)  # SERVICE records; reading is a viewer's
    usage = (await gql.data(USAGE, window, token=reader))["usage"]
    assert usage == {"totalRequests": 2, "units": 1520, "reportedCost": "0.512345"}
    logs = await gql.data(
        """query($s: String) { requestLogs(service: $s) { edges { node { service units cost
           unitType apiKeyId status } } } }""",
        {"s": service},
        token=reader,
    )
    nodes = sorted((e["node"] for e in logs["requestLogs"]["edges"]), key=lambda n: n["units"])
    assert [(n["units"], n["cost"], n["unitType"], n["status"]) for n in nodes] == [
        (20, "0.500000", "tokens", 429),
        (1500, "0.012345", "tokens", 200),
    ]
    assert nodes[1]["apiKeyId"] == key["id"]


async def test_bad_reports_get_coded_errors(gql: GraphQL) -> None:
    tenant = await gql.create_tenant("bad-reporter")
    service = await new_service(gql, currency="EUR")
    token = gql.token(Role.SERVICE, tenant)

    async def code(*events: dict[str, Any], as_token: str = token) -> str:
        return await gql.error_code(RECORD, {"e": list(events)}, token=as_token)

    assert await code(event(service, "neg", units=-5)) == "BAD_USER_INPUT"
    assert await code(event("no-such-service", "x")) == "NOT_FOUND"
    assert await code(event(service, "usd", cost="1.00", currency="USD")) == "BAD_USER_INPUT"
    assert await code(event(service, "unit", unitType="requests")) == "BAD_USER_INPUT"
    assert await code(event(service, "bad id with spaces")) == "BAD_USER_INPUT"
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert await code(event(service, "future", at=future)) == "BAD_USER_INPUT"
    assert await code(event(service, "cost", cost="-1")) == "BAD_USER_INPUT"
    flood = [event(service, f"e{i}") for i in range(100_000)]
    assert await code(*flood) == "BAD_USER_INPUT"  # refused before parsing (body size)
    assert await code(*flood[:1001]) == "BAD_USER_INPUT"  # over 1,000 events per call
    viewer = gql.token(Role.VIEWER, tenant)
    assert await code(event(service, "v"), as_token=viewer) == "FORBIDDEN"
    other = await gql.create_tenant("elsewhere")
    assert await code(event(service, "o", tenantId=other)) == "FORBIDDEN"
    _, foreign_key = await create_key(gql, other)
    assert await code(event(service, "k", apiKeyId=foreign_key["id"])) == "FORBIDDEN"
    # nothing of a rejected batch was stored
    logs = await gql.data(
        "query($s: String) { requestLogs(service: $s) { totalCount } }", {"s": service}
    )
    assert logs["requestLogs"]["totalCount"] == 0


async def test_only_a_super_admin_defines_services(gql: GraphQL) -> None:
    tenant = await gql.create_tenant("svc")
    admin = gql.token(Role.ADMIN, tenant)
    variables = {"i": {"name": "stripe-x"}}
    assert await gql.error_code(CREATE_SERVICE, variables, token=admin) == "FORBIDDEN"
    name = await new_service(gql)
    assert await gql.error_code(CREATE_SERVICE, {"i": {"name": name}}) == "CONFLICT"
    assert await gql.error_code(CREATE_SERVICE, {"i": {"name": "Bad Name!"}}) == "BAD_USER_INPUT"
    assert (
        await gql.error_code(CREATE_SERVICE, {"i": {"name": "x-eur", "currency": "EURO"}})
        == "BAD_USER_INPUT"
    )
    listed = await gql.data("{ meteredServices { name } }", token=admin)
    assert {"api", name} <= {s["name"] for s in listed["meteredServices"]}
