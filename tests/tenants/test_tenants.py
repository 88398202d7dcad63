"""Tenants through the admin API, with their audit entries."""

from __future__ import annotations

import uuid

from tests.conftest import GraphQL
from tollway.auth.principal import Role

CREATE = "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id name status metadata } } }"
UPDATE = "mutation($id: ID!, $i: UpdateTenantInput!) { updateTenant(id: $id, input: $i) { tenant { id name status metadata } } }"


def unique(prefix: str = "Acme") -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


async def test_create_then_read_tenant(gql: GraphQL) -> None:
    name = unique()
    created = (await gql.data(CREATE, {"i": {"name": name, "metadata": {"plan": "gold"}}}))[
        "createTenant"
    ]["tenant"]
    assert created["name"] == name
    assert created["status"] == "ACTIVE"
    assert created["metadata"] == {"plan": "gold"}
    fetched = await gql.data(
        "query($id: ID!) { tenant(id: $id) { id name } }", {"id": created["id"]}
    )
    assert fetched["tenant"] == {"id": created["id"], "name": name}


async def test_duplicate_name_is_a_conflict(gql: GraphQL) -> None:
    name = unique()
    await gql.data(CREATE, {"i": {"name": name}})
    assert await gql.error_code(CREATE, {"i": {"name": name}}) == "CONFLICT"


async def test_bad_names_are_rejected(gql: GraphQL) -> None:
    assert await gql.error_code(CREATE, {"i": {"name": "   "}}) == "BAD_USER_INPUT"
    assert await gql.error_code(CREATE, {"i": {"name": "x" * 121}}) == "BAD_USER_INPUT"
    assert (
        await gql.error_code(CREATE, {"i": {"name": "ok", "metadata": [1, 2]}}) == "BAD_USER_INPUT"
    )


async def test_update_tenant_records_changed_fields(gql: GraphQL) -> None:
    tenant_id = await gql.create_tenant()
    new_name = unique("Renamed")
    updated = await gql.data(
        UPDATE, {"id": tenant_id, "i": {"name": new_name, "status": "SUSPENDED"}}
    )
    assert updated["updateTenant"]["tenant"]["status"] == "SUSPENDED"
    log = await gql.data(
        'query($t: String!) { auditLog(filter: {targetId: $t, action: "tenant.update"}) '
        "{ totalCount edges { node { action actor actorRole targetType changes tenant { name } } } } }",
        {"t": tenant_id},
    )
    assert log["auditLog"]["totalCount"] == 1
    node = log["auditLog"]["edges"][0]["node"]
    assert node["actor"] == "bootstrap-admin"
    assert node["actorRole"] == "SUPER_ADMIN"
    assert node["changes"]["name"]["to"] == new_name
    assert node["changes"]["status"] == {"from": "ACTIVE", "to": "SUSPENDED"}
    assert node["tenant"]["name"] == new_name


async def test_update_unknown_tenant_and_empty_update(gql: GraphQL) -> None:
    assert (
        await gql.error_code(UPDATE, {"id": str(uuid.uuid4()), "i": {"name": "x"}}) == "NOT_FOUND"
    )
    tenant_id = await gql.create_tenant()
    assert await gql.error_code(UPDATE, {"id": tenant_id, "i": {}}) == "BAD_USER_INPUT"
    assert await gql.error_code(UPDATE, {"id": "not-an-id", "i": {"name": "x"}}) == "BAD_USER_INPUT"


async def test_admin_updates_own_tenant_but_not_its_status(gql: GraphQL) -> None:
    tenant_id = await gql.create_tenant()
    admin = gql.token(Role.ADMIN, tenant_id)
    name = unique("Self")
    data = await gql.data(UPDATE, {"id": tenant_id, "i": {"name": name}}, token=admin)
    assert data["updateTenant"]["tenant"]["name"] == name
    code = await gql.error_code(
        UPDATE, {"id": tenant_id, "i": {"status": "SUSPENDED"}}, token=admin
    )
    assert code == "FORBIDDEN"


async def test_tenants_connection_pages_through_everything(gql: GraphQL) -> None:
    marker = uuid.uuid4().hex[:8]
    ids = [
        (await gql.data(CREATE, {"i": {"name": f"page-{marker}-{i}"}}))["createTenant"]["tenant"][
            "id"
        ]
        for i in range(5)
    ]
    seen: list[str] = []
    after = None
    query = (
        "query($after: String, $m: String) { tenants(first: 2, after: $after, nameContains: $m) "
        "{ totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"
    )
    while True:
        page = (await gql.data(query, {"after": after, "m": marker}))["tenants"]
        assert page["totalCount"] == 5
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ids
    assert (
        await gql.error_code(query.replace("first: 2", "first: 0"), {"m": marker})
        == "BAD_USER_INPUT"
    )
    assert await gql.error_code(query, {"after": "garbage!", "m": marker}) == "BAD_USER_INPUT"


async def test_tenant_bound_principal_sees_only_its_tenant(gql: GraphQL) -> None:
    mine = await gql.create_tenant()
    await gql.create_tenant()
    viewer = gql.token(Role.VIEWER, mine)
    data = await gql.data("{ tenants { totalCount edges { node { id } } } }", token=viewer)
    assert data["tenants"]["totalCount"] == 1
    assert data["tenants"]["edges"][0]["node"]["id"] == mine
