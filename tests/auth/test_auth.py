"""Admin authentication and authorisation: bad tokens, roles and tenant isolation."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

import jwt
import pytest

from tests.conftest import SECRET_KEY, GraphQL
from tollway.auth.principal import Role
from tollway.auth.tokens import TokenAuthority, parse_ttl
from tollway.errors import BadUserInput

ME = "{ me { subject role tenantId } }"


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": "mallory",
        "role": "SUPER_ADMIN",
        "iss": "tollway",
        "aud": "tollway-admin",
        "iat": now,
        "exp": now + 3600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def tamper(token: str, **changes: object) -> str:
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


async def test_bootstrap_token_is_super_admin(gql: GraphQL) -> None:
    me = (await gql.data(ME))["me"]
    assert me == {"subject": "bootstrap-admin", "role": "SUPER_ADMIN", "tenantId": None}


async def test_jwt_principal_carries_role_and_tenant(gql: GraphQL) -> None:
    tenant_id = await gql.create_tenant()
    me = (await gql.data(ME, token=gql.token(Role.VIEWER, tenant_id)))["me"]
    assert me == {"subject": "test-VIEWER", "role": "VIEWER", "tenantId": tenant_id}


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(None, id="missing"),
        pytest.param("not-a-token", id="unknown"),
        pytest.param(jwt.encode(claims(), key=None, algorithm="none"), id="alg-none"),
        pytest.param(
            jwt.encode(claims(), "another-key-entirely-0123456789abc", "HS256"), id="wrong-key"
        ),
        pytest.param(jwt.encode(claims(exp=None), SECRET_KEY, "HS256"), id="no-exp"),
        pytest.param(
            jwt.encode(claims(aud="someone-else"), SECRET_KEY, "HS256"), id="wrong-audience"
        ),
        pytest.param(jwt.encode(claims(role="ROOT"), SECRET_KEY, "HS256"), id="unknown-role"),
        pytest.param(
            jwt.encode(claims(role="ADMIN"), SECRET_KEY, "HS256"), id="admin-without-tenant"
        ),
    ],
)
async def test_bad_tokens_are_unauthenticated(gql: GraphQL, token: str | None) -> None:
    assert await gql.error_code(ME, token=token) == "UNAUTHENTICATED"


async def test_expired_token_says_so(gql: GraphQL, authority: TokenAuthority) -> None:
    expired = authority.issue(
        Role.SUPER_ADMIN, None, ttl=timedelta(minutes=5), now=datetime.now(UTC) - timedelta(hours=1)
    )
    body = await gql.post(ME, token=expired)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["message"] == "token expired"


async def test_tampered_token_is_rejected(gql: GraphQL) -> None:
    tenant_id = await gql.create_tenant()
    viewer = gql.token(Role.VIEWER, tenant_id)
    forged = tamper(viewer, role="SUPER_ADMIN", tid=None)
    assert await gql.error_code(ME, token=forged) == "UNAUTHENTICATED"


async def test_basic_auth_header_is_rejected(gql: GraphQL) -> None:
    response = await gql.http.post(
        "/graphql", json={"query": ME}, headers={"Authorization": "Basic dXNlcjpwYXNz"}
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.SERVICE])
async def test_read_only_roles_cannot_mutate(gql: GraphQL, role: Role) -> None:
    tenant_id = await gql.create_tenant()
    token = gql.token(role, tenant_id)
    update = 'mutation($id: ID!) { updateTenant(id: $id, input: {name: "x"}) { tenant { id } } }'
    assert await gql.error_code(update, {"id": tenant_id}, token=token) == "FORBIDDEN"
    create = 'mutation { createTenant(input: {name: "sneaky"}) { tenant { id } } }'
    assert await gql.error_code(create, token=token) == "FORBIDDEN"


async def test_admin_cannot_create_tenants(gql: GraphQL) -> None:
    admin = gql.token(Role.ADMIN, await gql.create_tenant())
    create = 'mutation { createTenant(input: {name: "mine-now"}) { tenant { id } } }'
    assert await gql.error_code(create, token=admin) == "FORBIDDEN"


async def test_admin_of_a_can_never_name_tenant_b(gql: GraphQL) -> None:
    tenant_a, tenant_b = await gql.create_tenant("a"), await gql.create_tenant("b")
    admin_a = gql.token(Role.ADMIN, tenant_a)
    v = {"b": tenant_b}
    probes = [
        "query($b: ID!) { tenant(id: $b) { id name } }",
        'mutation($b: ID!) { updateTenant(id: $b, input: {name: "owned"}) { tenant { id } } }',
        "query($b: ID!) { auditLog(filter: {tenantId: $b}) { totalCount } }",
    ]
    for probe in probes:
        assert await gql.error_code(probe, v, token=admin_a) == "FORBIDDEN", probe
    # Nothing of B leaks through the unfiltered lists either.
    log = await gql.data("{ auditLog(first: 100) { edges { node { tenantId } } } }", token=admin_a)
    assert {e["node"]["tenantId"] for e in log["auditLog"]["edges"]} <= {tenant_a}
    tenants = await gql.data("{ tenants(first: 100) { edges { node { id } } } }", token=admin_a)
    assert [e["node"]["id"] for e in tenants["tenants"]["edges"]] == [tenant_a]
    # B is untouched.
    b = await gql.data("query($b: ID!) { tenant(id: $b) { name } }", v)
    assert b["tenant"]["name"] != "owned"


def test_ttl_parsing() -> None:
    assert parse_ttl("1h") == timedelta(hours=1)
    assert parse_ttl("30m") == timedelta(minutes=30)
    assert parse_ttl("7d") == timedelta(days=7)
    for bad in ["", "1y", "0s", "-1h", "400d", "h1"]:
        with pytest.raises(BadUserInput):
            parse_ttl(bad)


def test_tokens_bind_tenants_correctly(authority: TokenAuthority) -> None:
    with pytest.raises(BadUserInput):
        authority.issue(Role.ADMIN, None, ttl=timedelta(hours=1))
    with pytest.raises(BadUserInput):
        authority.issue(Role.SUPER_ADMIN, UUID(int=1), ttl=timedelta(hours=1))


SERVICE_MAY_NOT = {
    "tenants": "{ tenants(first: 5) { totalCount } }",
    "usage": '{ usage(from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z") { totalRequests } }',
    "requestLogs": '{ requestLogs(from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", '
    "first: 5) { totalCount } }",
    "costs": '{ costs(from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", groupBy: [DAY]) '
    "{ amount } }",
    "budgets": "{ budgets { id } }",
}


@pytest.mark.parametrize("field", sorted(SERVICE_MAY_NOT))
async def test_service_tokens_record_and_verify_but_do_not_read(gql: GraphQL, field: str) -> None:
    token = gql.token(Role.SERVICE, await gql.create_tenant("svc"))
    assert await gql.error_code(SERVICE_MAY_NOT[field], token=token) == "FORBIDDEN"
    assert "apiKeys" in await gql.data("{ apiKeys(first: 1) { totalCount } }", token=token)
