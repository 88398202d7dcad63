"""The access policy, generated from the schema: every field has one, every role outside it is
FORBIDDEN, every role inside it passes, and every id at every path is its tenant's or refused
(FORBIDDEN for another tenant's, NOT_FOUND for one that exists nowhere), subscriptions too."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from graphql import GraphQLObjectType

from tests.auth.policy_calls import ROOTS, SCHEMA, Call, call, id_paths
from tests.conftest import GraphQL, LiveServer
from tests.keyhelpers import create_key
from tollway.auth.ownership import IdKind
from tollway.auth.policy import POLICY, role_table
from tollway.auth.principal import Role
from tollway.models import Alert, Severity
from tollway.schema.permissions import Allowed
from tollway.settings import Settings
from tollway.web.graphql_schema import build_schema

TENANT_ROLES = (Role.ADMIN, Role.VIEWER, Role.SERVICE)
LATER = (datetime.now(UTC) + timedelta(days=1)).isoformat()


def schema_fields() -> list[str]:
    """Every root field, and every object field that takes arguments."""
    found = []
    for name, kind in SCHEMA.type_map.items():
        if isinstance(kind, GraphQLObjectType) and not name.startswith("__"):
            for field_name, field in kind.fields.items():
                if name in ROOTS or field.args:
                    found.append(f"{name}.{field_name}")
    return found


def test_every_field_has_a_policy_and_asks_it() -> None:
    fields = schema_fields()
    assert sorted(set(fields) - set(POLICY)) == [], "fields without an access policy"
    assert sorted(set(POLICY) - set(fields)) == [], "policies of fields that do not exist"
    schema = build_schema(Settings())
    for operation in fields:
        type_name, name = operation.split(".")
        definition = schema.get_type_by_name(type_name)
        names = schema.config.name_converter
        field = next(f for f in definition.fields if names.get_graphql_name(f) == name)  # type: ignore[union-attr]
        assert Allowed in field.permission_classes, f"{operation} does not ask the policy"


@pytest.mark.parametrize("operation", sorted(POLICY))
def test_every_id_argument_has_a_kind(operation: str) -> None:
    assert set(id_paths(operation)) == set(POLICY[operation].ids)


def test_readme_shows_the_table() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert role_table() in readme, (
        "README's role table is stale: paste `python -m tollway.auth.policy`"
    )


class Caller:
    """Sends a generated call over HTTP (queries, mutations) or a websocket (subscriptions)."""

    def __init__(self, gql: GraphQL, server: LiveServer) -> None:
        self.gql, self.server = gql, server

    async def error(self, made: Call, token: str) -> dict[str, Any] | None:
        """The first error (None when the call succeeded or a subscription is waiting)."""
        if made.operation.startswith("Subscription."):
            return await self._subscription_error(made, token)
        body = await self.gql.post(made.document, made.variables, token=token)
        errors = body.get("errors")
        return errors[0] if errors else None

    async def _subscription_error(self, made: Call, token: str) -> dict[str, Any] | None:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        subscribe = {"id": "1", "type": "subscribe",
                     "payload": {"query": made.document, "variables": made.variables}}  # fmt: skip
        async with websockets.connect(
            self.server.ws_url, subprotocols=["graphql-transport-ws"]
        ) as ws:
            await ws.send(json.dumps(init))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps(subscribe))
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
            except TimeoutError:
                return None
        if message["type"] == "error":
            first: dict[str, Any] = message["payload"][0]
            return first
        errors = message["payload"].get("errors")
        return errors[0] if errors else None


@pytest.fixture
def caller(gql: GraphQL, server: LiveServer) -> Caller:
    return Caller(gql, server)


def root_operations() -> list[str]:
    return [o for o in sorted(POLICY) if o.split(".")[0] in ROOTS]


async def test_roles_outside_the_policy_are_forbidden(gql: GraphQL, caller: Caller) -> None:
    tenant = await gql.create_tenant("policy-roles")
    tokens = {r: gql.token(r, None if r is Role.SUPER_ADMIN else tenant) for r in Role}
    refused = 0
    for operation in root_operations():
        for role in set(Role) - POLICY[operation].roles:
            error = await caller.error(call(operation), tokens[role])
            assert error is not None, f"{role} called {operation}"
            assert error["extensions"]["code"] == "FORBIDDEN", (operation, role, error)
            assert f"role {role.value} may not" in error["message"]
            refused += 1
    assert refused > 100


async def test_roles_inside_the_policy_pass_the_services_role_checks(
    gql: GraphQL, caller: Caller
) -> None:
    tenant = await gql.create_tenant("policy-allowed")
    for operation in root_operations():
        made = call(operation)
        for path, kind in POLICY[operation].ids.items():
            if kind is IdKind.TENANT:
                made = made.put(path, tenant)
        for role in POLICY[operation].roles & set(TENANT_ROLES):
            error = await caller.error(made, gql.token(role, tenant))
            if error is not None:
                assert "may not" not in error["message"], (operation, role, error)
                assert error["extensions"]["code"] != "INTERNAL", (operation, role, error)


async def objects_of(gql: GraphQL, tenant: str) -> dict[IdKind, str]:
    """One object of every kind an id can name, all of `tenant`."""
    _, key = await create_key(gql, tenant)
    made: dict[IdKind, str] = {IdKind.TENANT: tenant, IdKind.API_KEY: key["id"]}
    made[IdKind.AUDIT_TARGET] = key["id"]
    adjustment = await gql.data(
        "mutation($i: CreateLimitAdjustmentInput!) { createLimitAdjustment(input: $i) { id } }",
        {"i": {"kind": "BOOST", "scope": "TENANT", "tenantId": tenant, "multiplier": 2.0,
               "reason": "policy", "endsAt": LATER}},
    )  # fmt: skip
    made[IdKind.LIMIT_ADJUSTMENT] = adjustment["createLimitAdjustment"]["id"]
    budget = await gql.data(
        "mutation($i: CreateBudgetInput!) { createBudget(input: $i) { id } }",
        {"i": {"name": "policy", "scope": "TENANT", "tenantId": tenant, "period": "DAY",
               "amount": "10", "currency": "USD"}},
    )  # fmt: skip
    made[IdKind.BUDGET] = budget["createBudget"]["id"]
    rule = await gql.data(
        "mutation($i: CreateAlertRuleInput!) { createAlertRule(input: $i) { id } }",
        {"i": {"name": "policy", "metric": "REJECTIONS", "scope": "TENANT", "threshold": 5,
               "tenantId": tenant}},
    )  # fmt: skip
    made[IdKind.ALERT_RULE] = rule["createAlertRule"]["id"]
    now = datetime.now(UTC)
    alert = await Alert.create(
        source="policy", kind="policy", subject=f"policy:{tenant}", tenant_id=tenant,
        severity=Severity.INFO, message="policy", opened_at=now, last_seen_at=now,
    )  # fmt: skip
    made[IdKind.ALERT] = str(alert.id)
    endpoint = await gql.data(
        "mutation($t: ID!) { createWebhookEndpoint(input: {tenantId: $t,"
        ' url: "https://93.184.216.34/policy"}) { endpoint { id } } }',
        {"t": tenant},
    )
    made[IdKind.WEBHOOK_ENDPOINT] = endpoint["createWebhookEndpoint"]["endpoint"]["id"]
    message = await gql.data(
        "mutation($e: ID!) { sendTestWebhook(endpointId: $e) { message { id } } }",
        {"e": made[IdKind.WEBHOOK_ENDPOINT]},
    )
    made[IdKind.WEBHOOK_MESSAGE] = message["sendTestWebhook"]["message"]["id"]
    integration = await gql.data(
        'mutation($t: ID!) { createIntegration(input: {tenantId: $t, name: "policy",'
        ' provider: "custom", baseUrl: "https://93.184.216.34/api"}) { id } }',
        {"t": tenant},
    )
    made[IdKind.INTEGRATION] = integration["createIntegration"]["id"]
    return made


def tenant_role(operation: str) -> Role | None:
    """The tenant-bound role the foreign-id case calls as (None: SUPER_ADMIN only)."""
    return next((r for r in TENANT_ROLES if r in POLICY[operation].roles), None)


def checked_paths(operation: str) -> list[tuple[str, IdKind]]:
    ids = POLICY[operation].ids.items()
    return [(p, k) for p, k in ids if k not in (IdKind.CLIENT, IdKind.ROUTE_RULE)]


def with_own_ids(operation: str, own: dict[IdKind, str], but: str) -> Call:
    """The call with the caller's own object at every required id path but `but`."""
    made = call(operation)
    required = set(made.variables)
    for path, kind in checked_paths(operation):
        if path != but and path.split(".")[0] in required:
            made = made.put(path, own[kind])
    return made


async def test_foreign_ids_are_forbidden_at_every_path(gql: GraphQL, caller: Caller) -> None:
    mine, theirs = await gql.create_tenant("policy-mine"), await gql.create_tenant("policy-theirs")
    own, foreign = await objects_of(gql, mine), await objects_of(gql, theirs)
    checked = 0
    for operation in root_operations():
        role = tenant_role(operation)
        if role is None:
            continue
        token = gql.token(role, mine)
        for path, kind in checked_paths(operation):
            made = with_own_ids(operation, own, but=path).put(path, foreign[kind])
            error = await caller.error(made, token)
            assert error is not None, f"{operation} took another tenant's {path}"
            assert error["extensions"]["code"] == "FORBIDDEN", (operation, path, error)
            assert error["message"].startswith(path.split(".")[0]), error
            checked += 1
    assert checked > 60


async def test_ids_that_exist_nowhere_are_not_found(gql: GraphQL, caller: Caller) -> None:
    mine = await gql.create_tenant("policy-unknown")
    own = await objects_of(gql, mine)
    for operation in root_operations():
        role = tenant_role(operation)
        tokens = [gql.token(Role.SUPER_ADMIN)] + ([gql.token(role, mine)] if role else [])
        for path, _kind in checked_paths(operation):
            made = with_own_ids(operation, own, but=path).put(path, str(uuid.uuid4()))
            for token in tokens:
                error = await caller.error(made, token)
                assert error is not None, f"{operation} took an unknown {path}"
                assert error["extensions"]["code"] == "NOT_FOUND", (operation, path, error)


async def test_a_tenant_keeps_its_deleted_keys_history(gql: GraphQL) -> None:
    mine, theirs = await gql.create_tenant("policy-del-a"), await gql.create_tenant("policy-del-b")
    _, key = await create_key(gql, mine)
    await gql.data("mutation($id: ID!) { deleteApiKey(id: $id) { deletedId } }", {"id": key["id"]})
    usage = "query($k: ID) { usage(from: $f, to: $t, apiKeyId: $k) { totalRequests } }"
    usage = usage.replace("query($k: ID)", "query($k: ID, $f: DateTime!, $t: DateTime!)")
    span = {"f": "2026-01-01T00:00:00Z", "t": LATER, "k": key["id"]}
    assert (await gql.data(usage, span, token=gql.token(Role.VIEWER, mine)))["usage"] == {
        "totalRequests": 0
    }
    assert await gql.error_code(usage, span, token=gql.token(Role.VIEWER, theirs)) == "FORBIDDEN"
    audit = "query($k: String) { auditLog(filter: {targetId: $k}) { totalCount } }"
    entries = await gql.data(audit, {"k": key["id"]}, token=gql.token(Role.ADMIN, mine))
    assert entries["auditLog"]["totalCount"] == 2  # created, deleted
    code = await gql.error_code(audit, {"k": key["id"]}, token=gql.token(Role.ADMIN, theirs))
    assert code == "FORBIDDEN"


async def test_service_tokens_read_keys_but_not_their_usage(gql: GraphQL) -> None:
    tenant = await gql.create_tenant("policy-service")
    _, key = await create_key(gql, tenant)
    service = gql.token(Role.SERVICE, tenant)
    query = "query($id: ID!) { apiKey(id: $id) { name } }"
    assert (await gql.data(query, {"id": key["id"]}, token=service))["apiKey"]["name"]
    with_usage = """query($id: ID!, $f: DateTime!, $t: DateTime!) {
      apiKey(id: $id) { name usage(from: $f, to: $t) { totalRequests } } }"""
    variables = {"id": key["id"], "f": "2026-01-01T00:00:00Z", "t": LATER}
    assert await gql.error_code(with_usage, variables, token=service) == "FORBIDDEN"
    viewer = gql.token(Role.VIEWER, tenant)
    assert (await gql.data(with_usage, variables, token=viewer))["apiKey"]["usage"] == {
        "totalRequests": 0
    }
