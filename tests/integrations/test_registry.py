"""The integration registry through the admin API: CRUD, credentials sealed and never shown,
catalogue defaults, the SSRF guard, tenant scoping and coded errors for bad input."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest

from tests.conftest import GraphQL
from tollway.auth.principal import WORKER, Role
from tollway.errors import BadUserInput
from tollway.integrations.catalogue import ensure_default_providers
from tollway.integrations.registry import CREDENTIALS, IntegrationFields, credential_owner
from tollway.keyring.envelope import is_sealed
from tollway.models import AuditEntry, DataKey, Integration, IntegrationType
from tollway.services import Services

FIELDS = """id tenantId name type provider baseUrl environment config enabled credentialType
            credentialHint status"""
CREATE = f"mutation($i: CreateIntegrationInput!) {{ createIntegration(input: $i) {{ {FIELDS} }} }}"
UPDATE = (
    "mutation($id: ID!, $i: UpdateIntegrationInput!) "
    f"{{ updateIntegration(id: $id, input: $i) {{ {FIELDS} }} }}"
)
GET = f"query($id: ID!) {{ integration(id: $id) {{ {FIELDS} }} }}"
LIST = "query($f: IntegrationFilterInput) { integrations(filter: $f) { totalCount edges { node { id name } } } }"
DELETE = "mutation($id: ID!) { deleteIntegration(id: $id) { id } }"
KEY = "sk_test_0123456789abcd"
PUBLIC = "https://8.8.8.8/api"


def api_key(**extra: Any) -> dict[str, Any]:
    return {"type": "API_KEY", "values": {"key": KEY, "header": "X-Api-Key", **extra}}


async def create(gql: GraphQL, tenant: str, **fields: Any) -> dict[str, Any]:
    given = {"tenantId": tenant, "name": "maps", "provider": "custom", "baseUrl": PUBLIC, **fields}
    return dict((await gql.data(CREATE, {"i": given}))["createIntegration"])


async def test_an_integrations_life_and_its_credentials_never_shown(
    gql: GraphQL, services: Services
) -> None:
    tenant = await gql.create_tenant()
    made = await create(gql, tenant, credentials=api_key(), config={"region": "eu"})
    assert (made["type"], made["provider"], made["baseUrl"]) == ("CUSTOM", "custom", PUBLIC)
    assert (made["credentialType"], made["credentialHint"], made["status"]) == (
        "API_KEY", "abcd", "UNKNOWN",
    )  # fmt: skip
    assert made["config"] == {"region": "eu"} and made["environment"] == "PRODUCTION"
    assert (await gql.data(GET, {"id": made["id"]}))["integration"] == made
    row = await Integration.get(id=made["id"])
    assert row.credentials is not None and is_sealed(row.credentials) and KEY not in row.credentials
    opened = await services.keyring.vault.open(
        credential_owner(row.id, row.tenant_id), CREDENTIALS, sealed=row.credentials, purpose="test"
    )
    assert json.loads(opened)["key"] == KEY
    bearer = {"type": "BEARER", "values": {"token": "tok_" + "z" * 20 + "wxyz"}}
    changed = await gql.data(
        UPDATE, {"id": made["id"], "i": {"name": "maps-2", "credentials": bearer}}
    )
    assert (changed["updateIntegration"]["name"], changed["updateIntegration"]["credentialHint"]) == (
        "maps-2", "wxyz",
    )  # fmt: skip
    cleared = await gql.data(UPDATE, {"id": made["id"], "i": {"credentials": None}})
    assert cleared["updateIntegration"]["credentialType"] is None
    audit = await AuditEntry.filter(target_id=made["id"])
    assert {e.action for e in audit} >= {"integration.create", "integration.update"}
    assert KEY not in str([e.changes for e in audit]) and "tok_" not in str(
        [e.changes for e in audit]
    )
    assert (await gql.data(DELETE, {"id": made["id"]}))["deleteIntegration"]["id"] == made["id"]
    assert not await DataKey.exists(owner_id=made["id"])
    assert await gql.error_code(GET, {"id": made["id"]}) == "NOT_FOUND"


async def test_the_catalogue_gives_type_and_base_url(services: Services, gql: GraphQL) -> None:
    tenant = UUID(await gql.create_tenant())
    stripe = await services.integrations.create(
        WORKER, tenant, new=IntegrationFields(name="payments", provider="Stripe")
    )
    assert (stripe.type, stripe.base_url) == (IntegrationType.PAYMENT, "https://api.stripe.com")
    with pytest.raises(BadUserInput, match="Stripe is a PAYMENT provider"):
        await services.integrations.create(
            WORKER,
            tenant,
            new=IntegrationFields(name="x", provider="stripe", type=IntegrationType.SMS),
        )
    with pytest.raises(BadUserInput, match="a custom integration needs one"):
        await services.integrations.create(
            WORKER, tenant, new=IntegrationFields(name="y", provider="custom")
        )


BAD_INPUTS = [
    ({"baseUrl": "http://127.0.0.1:8080"}, "BAD_USER_INPUT"),
    ({"baseUrl": "http://10.1.2.3/"}, "BAD_USER_INPUT"),
    ({"baseUrl": "http://169.254.169.254/latest/meta-data"}, "BAD_USER_INPUT"),
    ({"baseUrl": "https://no-such-host.invalid"}, "BAD_USER_INPUT"),
    ({"baseUrl": "ftp://8.8.8.8"}, "BAD_USER_INPUT"),
    ({"provider": "paypal-ish"}, "BAD_USER_INPUT"),
    ({"config": [1, 2]}, "BAD_USER_INPUT"),
    ({"name": " "}, "BAD_USER_INPUT"),
    ({"credentials": {"type": "BASIC", "values": {"username": "u"}}}, "BAD_USER_INPUT"),
    ({"credentials": api_key(query="key")}, "BAD_USER_INPUT"),
    ({"credentials": {"type": "HMAC", "values": {"secret": "short"}}}, "BAD_USER_INPUT"),
    ({"credentials": {"type": "BEARER", "values": "tok"}}, "BAD_USER_INPUT"),
    ({"credentials": {"type": "BEARER", "values": {"token": "t", "extra": 1}}}, "BAD_USER_INPUT"),
    (
        {"credentials": {"type": "OAUTH2_CLIENT_CREDENTIALS", "values": {
            "client_id": "c", "client_secret": "s", "token_url": "http://127.0.0.1/token"}}},
        "BAD_USER_INPUT",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "code"), BAD_INPUTS)
async def test_bad_input_gets_a_coded_error(
    gql: GraphQL, fields: dict[str, Any], code: str
) -> None:
    tenant = await gql.create_tenant()
    given = {"tenantId": tenant, "name": "n", "provider": "custom", "baseUrl": PUBLIC, **fields}
    assert await gql.error_code(CREATE, {"i": given}) == code
    assert not await Integration.exists(tenant_id=tenant)


async def test_unknown_enum_values_and_null_fields_are_refused(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    given = {"tenantId": tenant, "name": "n", "provider": "custom", "baseUrl": PUBLIC}
    assert await gql.error_code(CREATE, {"i": {**given, "type": "FAX"}}) == "BAD_USER_INPUT"
    made = await create(gql, tenant, name="n")
    assert await gql.error_code(UPDATE, {"id": made["id"], "i": {"name": None}}) == "BAD_USER_INPUT"
    assert await gql.error_code(CREATE, {"i": given}) == "CONFLICT"  # the same name again


async def test_a_tenant_sees_only_its_own_integrations(gql: GraphQL) -> None:
    mine, theirs = await gql.create_tenant(), await gql.create_tenant()
    await create(gql, mine)
    other = await create(gql, theirs)
    admin = gql.token(Role.ADMIN, mine)
    listed = (await gql.data(LIST, {"f": None}, token=admin))["integrations"]
    assert listed["totalCount"] == 1
    assert await gql.error_code(GET, {"id": other["id"]}, token=admin) == "FORBIDDEN"
    assert await gql.error_code(DELETE, {"id": other["id"]}, token=admin) == "FORBIDDEN"
    viewer = gql.token(Role.VIEWER, mine)
    assert await gql.error_code(CREATE, {"i": {"tenantId": mine, "name": "v", "provider": "custom",
                                                "baseUrl": PUBLIC}}, token=viewer) == "FORBIDDEN"  # fmt: skip


PROVIDERS = (
    "{ integrationProviders { name type baseUrl authStyle probePath probeStatuses builtIn } }"
)
EDIT = """mutation($n: String!, $i: UpdateIntegrationProviderInput!) {
  updateIntegrationProvider(name: $n, input: $i) { name probePath probeMethod } }"""


async def test_the_provider_catalogue_is_listed_and_editable(gql: GraphQL) -> None:
    names = {p["name"] for p in (await gql.data(PROVIDERS))["integrationProviders"]}
    assert {
        "stripe",
        "razorpay",
        "twilio",
        "sendgrid",
        "openai",
        "google_maps",
        "s3",
        "custom",
    } <= names
    edited = await gql.data(EDIT, {"n": "sendgrid", "i": {"probePath": "/v3/user/profile"}})
    assert edited["updateIntegrationProvider"]["probePath"] == "/v3/user/profile"
    await ensure_default_providers()  # start-up seeding leaves an edit alone
    again = {p["name"]: p for p in (await gql.data(PROVIDERS))["integrationProviders"]}
    assert again["sendgrid"]["probePath"] == "/v3/user/profile"
    admin = gql.token(Role.ADMIN, await gql.create_tenant())
    assert (
        await gql.error_code(EDIT, {"n": "sendgrid", "i": {"probePath": "/x"}}, token=admin)
        == "FORBIDDEN"
    )
    assert (
        await gql.error_code(EDIT, {"n": "sendgrid", "i": {"probeMethod": "DELETE"}})
        == "BAD_USER_INPUT"
    )
    assert await gql.error_code(EDIT, {"n": "nope", "i": {"probePath": "/x"}}) == "NOT_FOUND"
    await gql.data(EDIT, {"n": "sendgrid", "i": {"probePath": "/v3/scopes"}})
