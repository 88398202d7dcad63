"""The audit log: every admin change recorded once, paged newest first, filtered, tenant-scoped,
with secrets redacted."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import GraphQL
from tests.keyhelpers import create_key
from tollway.audit.service import REDACTED, redact
from tollway.auth.principal import Role

RENAME = (
    "mutation($id: ID!, $n: String!) { updateTenant(id: $id, input: {name: $n}) { tenant { id } } }"
)
LOG = """query($f: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $f, first: $first, after: $after) {
    totalCount edges { node { id action actor actorRole targetType targetId tenantId changes at } }
    pageInfo { hasNextPage endCursor } } }"""


async def read_all(gql: GraphQL, flt: dict[str, Any], page: int, **kw: Any) -> list[dict[str, Any]]:
    """Every entry matching `flt`, `page` at a time."""
    entries: list[dict[str, Any]] = []
    after = None
    while True:
        data = (await gql.data(LOG, {"f": flt, "first": page, "after": after}, **kw))["auditLog"]
        entries += [edge["node"] for edge in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            return entries
        after = data["pageInfo"]["endCursor"]


def test_redact_replaces_secret_looking_fields_at_any_depth() -> None:
    changes = {
        "name": "billing",
        "secret": "whsec_x",
        "nested": {"api_token": "t", "keep": 1, "deeper": {"PASSWORD": "p"}},
        "key_hash": "h",
    }
    assert redact(changes) == {
        "name": "billing",
        "secret": REDACTED,
        "nested": {"api_token": REDACTED, "keep": 1, "deeper": {"PASSWORD": REDACTED}},
        "key_hash": REDACTED,
    }


async def test_every_change_is_listed_once_newest_first_across_pages(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    names = [f"renamed-{i}-{uuid.uuid4().hex[:6]}" for i in range(7)]
    for name in names:
        await gql.data(RENAME, {"id": tenant, "n": name})
    flt = {"targetId": tenant, "action": "tenant.update"}
    entries = await read_all(gql, flt, page=3)  # pages of 3, 3 and 1
    assert [e["changes"]["name"]["to"] for e in entries] == names[::-1]
    assert len({e["id"] for e in entries}) == 7
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)
    first = entries[-1]
    assert (first["actor"], first["actorRole"], first["targetType"], first["tenantId"]) == (
        "bootstrap-admin", "SUPER_ADMIN", "tenant", tenant,
    )  # fmt: skip


async def test_filters_combine(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    await gql.data(RENAME, {"id": tenant, "n": f"one-{uuid.uuid4().hex[:6]}"})
    await create_key(gql, tenant)
    by_tenant = await read_all(gql, {"tenantId": tenant}, page=50)
    assert {e["action"] for e in by_tenant} >= {"tenant.update", "api_key.create"}
    keys = await read_all(gql, {"tenantId": tenant, "targetType": "api_key"}, page=50)
    assert {e["action"] for e in keys} == {"api_key.create"}
    nobody = await read_all(gql, {"tenantId": tenant, "actor": "someone-else"}, page=50)
    assert nobody == []
    future = await read_all(gql, {"tenantId": tenant, "since": "2999-01-01T00:00:00Z"}, page=50)
    assert future == []
    backwards = {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    assert await gql.error_code(LOG, {"f": backwards}) == "BAD_USER_INPUT"


async def test_a_created_keys_secret_is_never_in_the_log(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    secret, key = await create_key(gql, tenant)
    entries = await read_all(gql, {"targetId": key["id"]}, page=50)
    assert [e["action"] for e in entries] == ["api_key.create"]
    assert secret not in str(entries)


async def test_a_tenant_bound_admin_reads_only_its_own_tenants_entries(gql: GraphQL) -> None:
    mine, theirs = await gql.create_tenant(), await gql.create_tenant()
    await gql.data(RENAME, {"id": mine, "n": f"mine-{uuid.uuid4().hex[:6]}"})
    await gql.data(RENAME, {"id": theirs, "n": f"theirs-{uuid.uuid4().hex[:6]}"})
    admin = gql.token(Role.ADMIN, mine)
    seen = await read_all(gql, {}, page=100, token=admin)
    assert seen and {e["tenantId"] for e in seen} == {mine}
    asked = {"f": {"tenantId": theirs}, "first": 10, "after": None}
    assert await gql.error_code(LOG, asked, token=admin) == "FORBIDDEN"
