"""Endpoint management through GraphQL on a server with the SSRF guard on (the default):
the secret shown once, tenant isolation, and every bad input answered with a code."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import GraphQL
from tollway.auth.principal import Role
from tollway.models import WebhookEndpoint
from tollway.webhooks.catalog import EVENT_TYPES

CREATE = """mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  secret endpoint { id tenantId url enabled eventTypes description headers { name }
  rateLimitPerSecond } } }"""
UPDATE = """mutation($id: ID!, $i: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(id: $id, input: $i) { id url enabled eventTypes headers { name }
  disabledReason } }"""
PUBLIC_URL = "https://93.184.216.34/hooks/tollway"  # a public literal: no DNS needed


@pytest.fixture
async def cleanup() -> Any:
    yield
    await WebhookEndpoint.all().delete()


async def test_endpoint_lifecycle(gql: GraphQL, cleanup: Any) -> None:
    tenant = await gql.create_tenant("endpoints")
    admin = gql.token(Role.ADMIN, tenant)
    created = (await gql.data(CREATE, {"i": {
        "tenantId": tenant, "url": PUBLIC_URL, "eventTypes": ["alert.*", "api_key.revoked"],
        "description": "ops", "headers": [{"name": "Authorization", "value": "Bearer x"}],
        "rateLimitPerSecond": 50}}, token=admin))["createWebhookEndpoint"]  # fmt: skip
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 30
    endpoint = created["endpoint"]
    assert endpoint["url"] == PUBLIC_URL and endpoint["enabled"] is True
    assert endpoint["eventTypes"] == ["alert.*", "api_key.revoked"]
    assert endpoint["headers"] == [{"name": "authorization"}]  # values are never shown back
    stored = await WebhookEndpoint.get(id=endpoint["id"])
    assert created["secret"] not in stored.secret  # encrypted at rest

    listed = await gql.data(
        "query { webhookEndpoints { totalCount edges { node { id url } } } }", token=admin
    )
    assert listed["webhookEndpoints"]["totalCount"] == 1
    changed = (await gql.data(UPDATE, {"id": endpoint["id"], "i": {
        "enabled": False, "eventTypes": ["*"], "headers": []}}, token=admin))  # fmt: skip
    assert changed["updateWebhookEndpoint"]["enabled"] is False
    assert changed["updateWebhookEndpoint"]["eventTypes"] == ["*"]
    assert changed["updateWebhookEndpoint"]["disabledReason"].startswith("disabled by")

    other = gql.token(Role.ADMIN, await gql.create_tenant("other"))
    query = "query($id: ID!) { webhookEndpoint(id: $id) { id } }"
    assert await gql.error_code(query, {"id": endpoint["id"]}, token=other) == "FORBIDDEN"
    assert await gql.error_code(UPDATE, {"id": endpoint["id"], "i": {"enabled": True}},
                                token=other) == "FORBIDDEN"  # fmt: skip
    viewer = gql.token(Role.VIEWER, tenant)
    assert await gql.error_code(CREATE, {"i": {"tenantId": tenant, "url": PUBLIC_URL}},
                                token=viewer) == "FORBIDDEN"  # fmt: skip
    assert await gql.error_code(CREATE, {"i": {"tenantId": tenant, "url": PUBLIC_URL}},
                                token=other) == "FORBIDDEN"  # fmt: skip

    types = await gql.data("query { webhookEventTypes { name description } }", token=viewer)
    assert {t["name"] for t in types["webhookEventTypes"]} == set(EVENT_TYPES)

    delete = "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { id } }"
    await gql.data(delete, {"id": endpoint["id"]}, token=admin)
    assert await gql.error_code(query, {"id": endpoint["id"]}, token=admin) == "NOT_FOUND"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"url": "ftp://example.com/hook"}, "http or https"),
        ({"url": "not a url"}, "http or https"),
        ({"url": "http://127.0.0.1:9000/hook"}, "127.0.0.1"),
        ({"url": "http://localhost/hook"}, "loopback"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "169.254.169.254"),
        ({"url": "http://[::1]/hook"}, "::1"),
        ({"url": "http://10.1.2.3/hook"}, "10.1.2.3"),
        ({"url": "https://user:pw@93.184.216.34/"}, "credentials"),
        ({"url": "https://" + "a" * 2100 + ".com/"}, "2048"),
        ({"eventTypes": ["key.made"]}, "unknown event type"),
        ({"eventTypes": ["nothing.*"]}, "no event type matches"),
        ({"headers": [{"name": "X-Big", "value": "v" * 5000}]}, "4096"),
        ({"headers": [{"name": "webhook-signature", "value": "x"}]}, "set by Tollway"),
        ({"headers": [{"name": "Bad Name", "value": "x"}]}, "not a valid header name"),
        ({"headers": [{"name": "X-A", "value": "a\r\nInjected: 1"}]}, "one line"),
        ({"headers": [{"name": "X-A", "value": "1"}, {"name": "x-a", "value": "2"}]}, "twice"),
        ({"rateLimitPerSecond": 0}, "between 1"),
        ({"tenantId": "not-an-id"}, "tenantId"),
    ],
)
async def test_bad_endpoint_input_is_refused_with_a_code(
    gql: GraphQL, change: dict[str, Any], needle: str
) -> None:
    tenant = await gql.create_tenant("bad")
    body = await gql.post(CREATE, {"i": {"tenantId": tenant, "url": PUBLIC_URL, **change}})
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert needle in error["message"], error["message"]
    assert await WebhookEndpoint.filter(tenant_id=tenant).count() == 0


async def test_bad_mutation_arguments(gql: GraphQL, cleanup: Any) -> None:
    tenant = await gql.create_tenant("args")
    created = await gql.data(CREATE, {"i": {"tenantId": tenant, "url": PUBLIC_URL}})
    endpoint_id = created["createWebhookEndpoint"]["endpoint"]["id"]
    rotate = "mutation($id: ID!, $o: Int!) { rotateWebhookSecret(id: $id, overlapSeconds: $o) { secret } }"
    assert await gql.error_code(rotate, {"id": endpoint_id, "o": -1}) == "BAD_USER_INPUT"
    assert await gql.error_code(rotate, {"id": endpoint_id, "o": 10**7}) == "BAD_USER_INPUT"
    recover = """mutation($e: ID!, $s: DateTime!) { recoverWebhookMessages(endpointId: $e,
      since: $s) { count } }"""
    future = {"e": endpoint_id, "s": "2999-01-01T00:00:00Z"}
    assert await gql.error_code(recover, future) == "BAD_USER_INPUT"
    ancient = {"e": endpoint_id, "s": "2001-01-01T00:00:00Z"}
    assert await gql.error_code(recover, ancient) == "BAD_USER_INPUT"
    assert await gql.error_code(UPDATE, {"id": endpoint_id, "i": {}}) == "BAD_USER_INPUT"
    assert await gql.error_code(UPDATE, {"id": endpoint_id, "i": {"enabled": None}}) == (
        "BAD_USER_INPUT"
    )
    stats = "query($id: ID!) { webhookEndpoint(id: $id) { stats(hours: 0) { attempts } } }"
    assert await gql.error_code(stats, {"id": endpoint_id}) == "BAD_USER_INPUT"
    missing = 'mutation { sendTestWebhook(endpointId: "00000000-0000-0000-0000-000000000000") { message { id } } }'
    assert await gql.error_code(missing) == "NOT_FOUND"
