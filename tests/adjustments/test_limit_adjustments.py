"""createLimitAdjustment, endLimitAdjustment, limitAdjustments: validation, isolation, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import GraphQL
from tests.keyhelpers import create_key
from tollway.auth.principal import Role

FIELDS = """id kind scope status tenantId apiKeyId plan multiplier
  overrideLimit { limit windowSeconds algorithm } exemptApiKeyIds exemptPlans
  startsAt endsAt endedAt endedBy reason createdBy"""
CREATE = f"mutation($i: CreateLimitAdjustmentInput!) {{ createLimitAdjustment(input: $i) {{ {FIELDS} }} }}"
END = f"mutation($id: ID!, $r: String) {{ endLimitAdjustment(id: $id, reason: $r) {{ {FIELDS} }} }}"
LIST = f"""query($t: ID, $s: LimitAdjustmentStatus, $k: LimitAdjustmentKind) {{
  limitAdjustments(tenantId: $t, status: $s, kind: $k) {{ totalCount edges {{ node {{ {FIELDS} }} }} }} }}"""


def later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def boost(**kw: Any) -> dict[str, Any]:
    return {"kind": "BOOST", "scope": "GLOBAL", "multiplier": 2.0, "reason": "launch day",
            "endsAt": later(3600), **kw}  # fmt: skip


async def test_create_list_and_end(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    _, key = await create_key(gql, tenant)
    created = (await gql.data(CREATE, {"i": boost(scope="KEY", apiKeyId=key["id"])}))[
        "createLimitAdjustment"
    ]
    assert created["status"] == "ACTIVE"
    assert created["tenantId"] == tenant and created["apiKeyId"] == key["id"]
    assert created["multiplier"] == 2.0 and created["reason"] == "launch day"
    scheduled = (
        await gql.data(CREATE, {"i": boost(scope="TENANT", tenantId=tenant, startsAt=later(600))})
    )["createLimitAdjustment"]
    assert scheduled["status"] == "SCHEDULED"
    listed = (await gql.data(LIST, {"t": tenant}))["limitAdjustments"]
    ids = [e["node"]["id"] for e in listed["edges"]]
    assert scheduled["id"] in ids and created["id"] in ids
    active = (await gql.data(LIST, {"t": tenant, "s": "ACTIVE"}))["limitAdjustments"]["edges"]
    assert created["id"] in [e["node"]["id"] for e in active]
    assert scheduled["id"] not in [e["node"]["id"] for e in active]

    ended = (await gql.data(END, {"id": created["id"], "r": "done"}))["endLimitAdjustment"]
    assert ended["status"] == "ENDED" and ended["endedAt"] and ended["endedBy"]
    assert await gql.error_code(END, {"id": created["id"]}) == "CONFLICT"
    audit = await gql.data(
        "query($t: String!) { auditLog(filter: {targetId: $t}) { edges { node { action } } } }",
        {"t": created["id"]},
    )
    actions = [e["node"]["action"] for e in audit["auditLog"]["edges"]]
    assert sorted(actions) == ["limit_adjustment.create", "limit_adjustment.end"]


async def test_override_and_throttle_with_exemptions(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    _, key = await create_key(gql, tenant)
    override = (
        await gql.data(
            CREATE,
            {
                "i": {
                    "kind": "OVERRIDE",
                    "scope": "KEY",
                    "apiKeyId": key["id"],
                    "reason": "abuse",
                    "endsAt": later(60),
                    "overrideLimit": {"limit": 5, "windowSeconds": 60},
                }
            },
        )
    )["createLimitAdjustment"]
    assert override["overrideLimit"] == {
        "limit": 5,
        "windowSeconds": 60,
        "algorithm": "SLIDING_WINDOW",
    }
    assert override["multiplier"] is None
    throttle = (
        await gql.data(
            CREATE,
            {
                "i": boost(
                    kind="THROTTLE",
                    scope="TENANT",
                    tenantId=tenant,
                    multiplier=0.5,
                    exemptApiKeyIds=[key["id"]],
                    exemptPlans=["enterprise"],
                )
            },
        )
    )["createLimitAdjustment"]
    assert throttle["exemptApiKeyIds"] == [key["id"]]
    assert throttle["exemptPlans"] == ["ENTERPRISE"]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"multiplier": 1.0}, "BAD_USER_INPUT"),
        ({"multiplier": 0.5}, "BAD_USER_INPUT"),  # a boost below 1
        ({"multiplier": 5000.0}, "BAD_USER_INPUT"),
        ({"multiplier": None}, "BAD_USER_INPUT"),
        ({"kind": "THROTTLE", "multiplier": 1.5}, "BAD_USER_INPUT"),
        ({"kind": "THROTTLE", "multiplier": 0.0}, "BAD_USER_INPUT"),
        ({"kind": "THROTTLE", "multiplier": -1.0}, "BAD_USER_INPUT"),
        ({"kind": "OVERRIDE", "multiplier": None}, "BAD_USER_INPUT"),  # needs scope KEY
        ({"endsAt": "2001-01-01T00:00:00Z"}, "BAD_USER_INPUT"),
        ({"startsAt": later(7200)}, "BAD_USER_INPUT"),  # ends before it starts
        ({"endsAt": later(400 * 86400)}, "BAD_USER_INPUT"),
        ({"reason": "  "}, "BAD_USER_INPUT"),
        ({"reason": "x" * 501}, "BAD_USER_INPUT"),
        ({"scope": "KEY"}, "BAD_USER_INPUT"),  # no apiKeyId
        ({"scope": "PLAN"}, "BAD_USER_INPUT"),  # no plan
        ({"scope": "PLAN", "plan": "NOPE"}, "BAD_USER_INPUT"),
        ({"scope": "TENANT"}, "BAD_USER_INPUT"),  # no tenantId
        ({"plan": "FREE"}, "BAD_USER_INPUT"),  # plan on a GLOBAL adjustment
        ({"exemptPlans": ["FREE"]}, "BAD_USER_INPUT"),  # exemptions on a boost
        ({"scope": "KEY", "apiKeyId": "not-an-id"}, "BAD_USER_INPUT"),
        ({"scope": "KEY", "apiKeyId": "00000000-0000-0000-0000-000000000000"}, "NOT_FOUND"),
        ({"overrideLimit": {"limit": 5, "windowSeconds": 60}}, "BAD_USER_INPUT"),
        ({"endsAt": "tomorrow"}, "BAD_USER_INPUT"),
    ],
)
async def test_bad_input(gql: GraphQL, fields: dict[str, Any], code: str) -> None:
    assert await gql.error_code(CREATE, {"i": boost(**fields)}) == code


async def test_override_window_is_validated(gql: GraphQL) -> None:
    _, key = await create_key(gql, await gql.create_tenant())
    for window in ({"limit": 0, "windowSeconds": 60}, {"limit": 5, "windowSeconds": 0}):
        body = {"kind": "OVERRIDE", "scope": "KEY", "apiKeyId": key["id"], "reason": "r",
                "endsAt": later(60), "overrideLimit": window}  # fmt: skip
        assert await gql.error_code(CREATE, {"i": body}) == "BAD_USER_INPUT"


async def test_tenant_isolation(gql: GraphQL) -> None:
    mine, theirs = await gql.create_tenant(), await gql.create_tenant()
    _, their_key = await create_key(gql, theirs)
    admin = gql.token(Role.ADMIN, mine)
    viewer = gql.token(Role.VIEWER, mine)
    # An ADMIN of one tenant cannot touch another tenant's keys or tenant, nor everything.
    assert (
        await gql.error_code(
            CREATE, {"i": boost(scope="KEY", apiKeyId=their_key["id"])}, token=admin
        )
        == "FORBIDDEN"
    )
    assert (
        await gql.error_code(CREATE, {"i": boost(scope="TENANT", tenantId=theirs)}, token=admin)
        == "FORBIDDEN"
    )
    assert await gql.error_code(CREATE, {"i": boost()}, token=admin) == "FORBIDDEN"
    assert await gql.error_code(CREATE, {"i": boost(scope="TENANT")}, token=viewer) == "FORBIDDEN"
    own = (await gql.data(CREATE, {"i": boost(scope="TENANT")}, token=admin))[
        "createLimitAdjustment"
    ]
    assert own["tenantId"] == mine
    plan = await gql.data(CREATE, {"i": boost(scope="PLAN", plan="free")}, token=admin)
    assert plan["createLimitAdjustment"]["tenantId"] == mine  # narrowed to the caller's tenant
    other = (await gql.data(CREATE, {"i": boost(scope="TENANT", tenantId=theirs)}))[
        "createLimitAdjustment"
    ]
    everyone = (await gql.data(CREATE, {"i": boost()}))["createLimitAdjustment"]

    seen = (await gql.data(LIST, {}, token=viewer))["limitAdjustments"]["edges"]
    seen_ids = {e["node"]["id"] for e in seen}
    assert own["id"] in seen_ids and everyone["id"] in seen_ids  # global ones are visible
    assert other["id"] not in seen_ids
    assert await gql.error_code(LIST, {"t": theirs}, token=viewer) == "FORBIDDEN"
    assert await gql.error_code(END, {"id": other["id"]}, token=admin) == "FORBIDDEN"
    assert await gql.error_code(END, {"id": everyone["id"]}, token=admin) == "FORBIDDEN"
    assert await gql.error_code(END, {"id": own["id"]}, token=viewer) == "FORBIDDEN"
    await gql.data(END, {"id": everyone["id"]})  # keep other tests' limits unadjusted
