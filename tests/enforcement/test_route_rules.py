"""Route rules managed through GraphQL: enforced on every middleware instance within a second,
and refused with a code when malformed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import GraphQL
from tests.enforcement.conftest import Protected
from tests.keyhelpers import create_key
from tollway.auth.principal import Role

CREATE = """mutation($i: CreateRouteRuleInput!) { createRouteRule(input: $i) { id name path
  methods scopes cost public priority rateLimits { limit windowSeconds } } }"""
UPDATE = """mutation($id: ID!, $i: UpdateRouteRuleInput!) { updateRouteRule(id: $id, input: $i)
  { id scopes } }"""
DELETE = "mutation($id: ID!) { deleteRouteRule(id: $id) { id } }"


@pytest.fixture
async def rules(gql: GraphQL) -> AsyncIterator[list[str]]:
    """Ids of rules the test created; deleted afterwards (the admin server enforces them too)."""
    created: list[str] = []
    yield created
    for rule_id in created:
        await gql.post(DELETE, {"id": rule_id})


async def status_becomes(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], expected: int
) -> None:
    started = time.monotonic()
    while (status := (await client.get(path, headers=headers)).status_code) != expected:
        assert time.monotonic() - started < 1.5, f"{path}: still {status}, wanted {expected}"
        await asyncio.sleep(0.02)


async def test_rules_apply_on_every_instance_and_go_away(
    gql: GraphQL, protected: Protected, rules: list[str]
) -> None:
    tenant = await gql.create_tenant("routes")
    plain, _ = await create_key(gql, tenant)
    reader, _ = await create_key(gql, tenant, scopes=["reports:read"])
    async with protected() as (first, _), protected() as (second, _):
        for client in (first, second):
            assert (await client.get("/reports/7", headers={"X-API-Key": plain})).status_code == 200
            assert (await client.get("/status")).status_code == 401
        rule = (await gql.data(CREATE, {"i": {
            "name": "reports", "path": "/reports/**", "methods": ["get", "POST"],
            "scopes": ["reports:read"], "cost": 2,
            "rateLimits": [{"limit": 4, "windowSeconds": 60}]}}))["createRouteRule"]  # fmt: skip
        rules.append(rule["id"])
        assert rule["methods"] == ["GET", "POST"] and rule["cost"] == 2
        public = (await gql.data(CREATE, {"i": {"name": "status", "path": "/status",
                                               "public": True}}))["createRouteRule"]  # fmt: skip
        rules.append(public["id"])
        for client in (first, second):
            await status_becomes(client, "/reports/7", {"X-API-Key": plain}, 403)
            await status_becomes(client, "/status", {}, 200)
        # Cost 2 against the route's own window of 4: two requests (per instance when
        # embedded, where each instance limits in memory; shared through Redis otherwise).
        statuses = [
            (await first.get("/reports/7", headers={"X-API-Key": reader})).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]

        await gql.data(UPDATE, {"id": rule["id"], "i": {"scopes": []}})
        await status_becomes(second, "/reports/1", {"X-API-Key": plain}, 200)
        await gql.data(DELETE, {"id": public["id"]})
        await status_becomes(first, "/status", {}, 401)

    listed = await gql.data("query { routeRules { name path } }")
    assert {"name": "reports", "path": "/reports/**"} in listed["routeRules"]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"path": "reports"}, "BAD_USER_INPUT"),
        ({"path": "/a b"}, "BAD_USER_INPUT"),
        ({"methods": ["FETCH"]}, "BAD_USER_INPUT"),
        ({"cost": 0}, "BAD_USER_INPUT"),
        ({"rateLimits": [{"limit": 5, "windowSeconds": 0}]}, "BAD_USER_INPUT"),
        ({"rateLimits": [{"limit": -1, "windowSeconds": 60}]}, "BAD_USER_INPUT"),
        ({"public": True, "scopes": ["a:b"]}, "BAD_USER_INPUT"),
        ({"scopes": ["bad scope"]}, "BAD_USER_INPUT"),
        ({"name": ""}, "BAD_USER_INPUT"),
    ],
)
async def test_bad_rules_are_refused(gql: GraphQL, fields: dict[str, Any], code: str) -> None:
    body = {"name": "bad", "path": "/bad", **fields}
    assert await gql.error_code(CREATE, {"i": body}) == code


async def test_rule_names_are_unique_and_only_super_admins_write(
    gql: GraphQL, rules: list[str]
) -> None:
    rule = (await gql.data(CREATE, {"i": {"name": "unique", "path": "/u"}}))["createRouteRule"]
    rules.append(rule["id"])
    assert await gql.error_code(CREATE, {"i": {"name": "unique", "path": "/v"}}) == "CONFLICT"
    admin = gql.token(Role.ADMIN, await gql.create_tenant("not-super"))
    assert await gql.error_code(CREATE, {"i": {"name": "x", "path": "/x"}}, token=admin) == (
        "FORBIDDEN"
    )
    assert await gql.error_code(UPDATE, {"id": rule["id"], "i": {}}) == "BAD_USER_INPUT"
    assert await gql.error_code(DELETE, {"id": "00000000-0000-0000-0000-000000000000"}) == (
        "NOT_FOUND"
    )
