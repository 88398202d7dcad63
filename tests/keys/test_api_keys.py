"""API keys through the admin API: lifecycle, filters, validation and tenant isolation."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import GraphQL
from tests.keyhelpers import CREATE_KEY, create_key
from tollway.auth.principal import Role

GET = "query($id: ID!) { apiKey(id: $id) { id name status scopes maskedKey prefix } }"


async def test_create_returns_the_secret_once(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    secret, key = await create_key(
        gql, tenant, scopes=["reports:read"], allowedIps=["10.0.0.0/8"],
        allowedOrigins=["https://App.Example"], rateLimits=[{"limit": 100, "windowSeconds": 60}],
        quota={"limit": 10000, "period": "MONTH"},
    )  # fmt: skip
    assert re.fullmatch(r"tw_live_[0-9A-Za-z]{32}", secret)
    assert key["prefix"] == secret[:12]
    assert key["maskedKey"] == f"{secret[:12]}…{secret[-4:]}"
    assert key["status"] == "ACTIVE"
    assert key["rateLimits"] == [
        {"limit": 100, "windowSeconds": 60, "algorithm": "SLIDING_WINDOW", "burst": None}
    ]
    assert key["quota"] == {"limit": 10000, "period": "MONTH"}
    assert key["plan"]["name"] == "FREE"
    # The secret is never readable again, anywhere.
    body = str(
        await gql.post(GET.replace("prefix }", "prefix createdAt lastUsedAt }"), {"id": key["id"]})
    )
    assert secret not in body
    log = str(
        await gql.data(
            "query($t: String!) { auditLog(filter: {targetId: $t}) { edges { node { changes } } } }",
            {"t": key["id"]},
        )
    )
    assert secret not in log


async def test_test_environment_prefix_and_plan_inheritance(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    secret, key = await create_key(gql, tenant, environment="TEST", plan="professional")
    assert secret.startswith("tw_test_")
    assert key["plan"]["name"] == "PROFESSIONAL"
    assert {w["windowSeconds"] for w in key["rateLimits"]} == {60, 1}
    assert key["quota"]["period"] == "MONTH"


async def test_update_disable_enable_and_revoke(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    _, key = await create_key(gql, tenant)
    update = "mutation($id: ID!, $i: UpdateApiKeyInput!) { updateApiKey(id: $id, input: $i) { apiKey { id name status scopes } } }"
    data = await gql.data(
        update, {"id": key["id"], "i": {"name": "renamed", "status": "DISABLED", "scopes": ["a:b"]}}
    )
    assert data["updateApiKey"]["apiKey"] == {
        "id": key["id"],
        "name": "renamed",
        "status": "DISABLED",
        "scopes": ["a:b"],
    }
    data = await gql.data(update, {"id": key["id"], "i": {"status": "ACTIVE"}})
    assert data["updateApiKey"]["apiKey"]["status"] == "ACTIVE"
    assert (
        await gql.error_code(update, {"id": key["id"], "i": {"status": "REVOKED"}})
        == "BAD_USER_INPUT"
    )
    revoke = (
        'mutation($id: ID!) { revokeApiKey(id: $id, reason: "leaked") { apiKey { id status } } }'
    )
    assert (await gql.data(revoke, {"id": key["id"]}))["revokeApiKey"]["apiKey"][
        "status"
    ] == "REVOKED"
    assert await gql.error_code(revoke, {"id": key["id"]}) == "CONFLICT"
    assert await gql.error_code(update, {"id": key["id"], "i": {"status": "ACTIVE"}}) == "CONFLICT"


async def test_rotate_and_delete(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    old, key = await create_key(gql, tenant)
    rotate = "mutation($id: ID!, $g: Int!) { rotateApiKey(id: $id, gracePeriodSeconds: $g) { secret apiKey { id prefix } } }"
    data = (await gql.data(rotate, {"id": key["id"], "g": 60}))["rotateApiKey"]
    assert data["secret"] != old
    assert data["apiKey"]["prefix"] == data["secret"][:12]
    assert await gql.error_code(rotate, {"id": key["id"], "g": -1}) == "BAD_USER_INPUT"
    delete = "mutation($id: ID!) { deleteApiKey(id: $id) { deletedId } }"
    assert (await gql.data(delete, {"id": key["id"]}))["deleteApiKey"]["deletedId"] == key["id"]
    assert await gql.error_code(GET, {"id": key["id"]}) == "NOT_FOUND"


async def test_list_filters_and_pagination(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    for i in range(3):
        await create_key(gql, tenant, name=f"alpha-{i}", environment="TEST")
    await create_key(gql, tenant, name="beta", plan="STARTER")
    query = """query($t: ID, $s: String, $e: KeyEnvironment, $p: String, $after: String) {
      apiKeys(tenantId: $t, search: $s, environment: $e, plan: $p, first: 2, after: $after) {
        totalCount edges { node { name } } pageInfo { hasNextPage endCursor } } }"""
    page = (await gql.data(query, {"t": tenant}))["apiKeys"]
    assert page["totalCount"] == 4
    assert page["pageInfo"]["hasNextPage"]
    rest = (await gql.data(query, {"t": tenant, "after": page["pageInfo"]["endCursor"]}))["apiKeys"]
    names = [e["node"]["name"] for e in page["edges"] + rest["edges"]]
    assert sorted(names) == ["alpha-0", "alpha-1", "alpha-2", "beta"]
    assert (await gql.data(query, {"t": tenant, "s": "alpha"}))["apiKeys"]["totalCount"] == 3
    assert (await gql.data(query, {"t": tenant, "e": "LIVE"}))["apiKeys"]["totalCount"] == 1
    assert (await gql.data(query, {"t": tenant, "p": "starter"}))["apiKeys"]["totalCount"] == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "name"),
        ({"allowedIps": ["10.0.0.300/8"]}, "allowedIps"),
        ({"allowedIps": ["not-an-ip"]}, "allowedIps"),
        ({"allowedOrigins": ["app.example"]}, "allowedOrigins"),
        ({"allowedOrigins": ["https://app.example/path"]}, "allowedOrigins"),
        ({"rateLimits": [{"limit": 0, "windowSeconds": 60}]}, "limit"),
        ({"rateLimits": [{"limit": -5, "windowSeconds": 60}]}, "limit"),
        ({"rateLimits": [{"limit": 5, "windowSeconds": 0}]}, "windowSeconds"),
        (
            {"rateLimits": [{"limit": 5, "windowSeconds": 60}, {"limit": 9, "windowSeconds": 60}]},
            "same length",
        ),
        ({"quota": {"limit": 0, "period": "DAY"}}, "quota"),
        ({"quota": {"limit": 5, "period": "DAY", "refill": "WEEK"}}, "refill"),
        ({"expiresAt": "2001-01-01T00:00:00Z"}, "past"),
        ({"scopes": ["has space"]}, "scope"),
        ({"plan": "PLATINUM"}, "unknown plan"),
        ({"rotationPeriodDays": 0}, "rotationPeriodDays"),
    ],
)
async def test_bad_key_input_is_rejected(
    gql: GraphQL, fields: dict[str, object], message: str
) -> None:
    tenant = await gql.create_tenant()
    body = await gql.post(CREATE_KEY, {"i": {"tenantId": tenant, "name": "k", **fields}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert message in body["errors"][0]["message"]


async def test_unknown_tenant_and_bad_ids(gql: GraphQL) -> None:
    body = await gql.post(CREATE_KEY, {"i": {"tenantId": str(uuid.uuid4()), "name": "k"}})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert await gql.error_code(GET, {"id": "nope"}) == "BAD_USER_INPUT"


async def test_tenant_isolation_for_keys(gql: GraphQL) -> None:
    tenant_a, tenant_b = await gql.create_tenant("ka"), await gql.create_tenant("kb")
    _, key_b = await create_key(gql, tenant_b)
    admin_a = gql.token(Role.ADMIN, tenant_a)
    assert await gql.error_code(GET, {"id": key_b["id"]}, token=admin_a) == "FORBIDDEN"
    revoke = "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { status } } }"
    assert await gql.error_code(revoke, {"id": key_b["id"]}, token=admin_a) == "FORBIDDEN"
    body = await gql.post(CREATE_KEY, {"i": {"tenantId": tenant_b, "name": "k"}}, token=admin_a)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    listing = "query($t: ID) { apiKeys(tenantId: $t) { totalCount } }"
    assert await gql.error_code(listing, {"t": tenant_b}, token=admin_a) == "FORBIDDEN"
    assert (await gql.data(listing, {}, token=admin_a))["apiKeys"]["totalCount"] == 0
    viewer_b = gql.token(Role.VIEWER, tenant_b)
    assert (await gql.data(GET, {"id": key_b["id"]}, token=viewer_b))["apiKey"]["id"] == key_b["id"]
    assert await gql.error_code(revoke, {"id": key_b["id"]}, token=viewer_b) == "FORBIDDEN"


async def test_expired_status_is_derived(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    _, key = await create_key(gql, tenant, expiresAt=soon)
    import asyncio

    await asyncio.sleep(1.2)
    assert (await gql.data(GET, {"id": key["id"]}))["apiKey"]["status"] == "EXPIRED"


async def test_plans_are_seeded_and_editable(gql: GraphQL) -> None:
    plans = (
        await gql.data(
            "{ plans { name rateLimits { limit windowSeconds } quota { limit period } } }"
        )
    )["plans"]
    assert {"FREE", "STARTER", "PROFESSIONAL", "ENTERPRISE"} <= {p["name"] for p in plans}
    name = f"CUSTOM{uuid.uuid4().hex[:6]}".upper()
    create = "mutation($i: PlanInput!) { createPlan(input: $i) { name rateLimits { limit } } }"
    made = await gql.data(
        create, {"i": {"name": name, "rateLimits": [{"limit": 7, "windowSeconds": 10}]}}
    )
    assert made["createPlan"] == {"name": name, "rateLimits": [{"limit": 7}]}
    assert await gql.error_code(create, {"i": {"name": name}}) == "CONFLICT"
    admin = gql.token(Role.ADMIN, await gql.create_tenant())
    assert await gql.error_code(create, {"i": {"name": "MINE"}}, token=admin) == "FORBIDDEN"
