"""Calling a real local provider through an integration's client: each credential type arrives
injected, the caller never holds it, and the SSRF guard holds at call time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest

from tests.conftest import GraphQL, LiveServer
from tests.webhooks.receiver import Receiver, receiving
from tollway.app import build_services
from tollway.auth.principal import WORKER, Principal, Role
from tollway.errors import BadUserInput, Conflict, Forbidden
from tollway.integrations.registry import CredentialsInput, IntegrationFields
from tollway.models import CredentialType, Integration
from tollway.services import Services


@pytest.fixture
async def provider() -> AsyncIterator[Receiver]:
    async with receiving() as receiver:
        yield receiver


async def integration(
    services: Services, tenant: UUID, url: str, kind: CredentialType, values: dict[str, Any]
) -> Integration:
    return await services.integrations.create(
        WORKER,
        tenant,
        new=IntegrationFields(
            name=f"p-{kind.value}-{len(values)}",
            provider="custom",
            base_url=url,
            credentials=CredentialsInput(kind, values),
        ),
    )


CASES = [
    (CredentialType.API_KEY, {"key": "k-0123456789ab", "header": "X-Api-Key"},
     lambda r: r.headers["x-api-key"] == "k-0123456789ab"),
    (CredentialType.API_KEY, {"key": "k-0123456789ab", "header": "Authorization", "prefix": "Token "},
     lambda r: r.headers["authorization"] == "Token k-0123456789ab"),
    (CredentialType.API_KEY, {"key": "k-0123456789ab", "query": "key"},
     lambda r: "key=k-0123456789ab" in r.query and "authorization" not in r.headers),
    (CredentialType.BASIC, {"username": "acct", "password": "pw-0123456789"},
     lambda r: r.headers["authorization"] == "Basic " + base64.b64encode(b"acct:pw-0123456789").decode()),
    (CredentialType.BEARER, {"token": "tok-0123456789"},
     lambda r: r.headers["authorization"] == "Bearer tok-0123456789"),
    (CredentialType.HMAC, {"secret": "shared-secret-0123", "header": "X-Sig"},
     lambda r: r.headers["x-sig"] == "sha256=" + hmac.new(
         b"shared-secret-0123", r.body, hashlib.sha256).hexdigest()),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "values", "arrived"), CASES)
async def test_the_provider_receives_the_injected_credential(
    services: Services, gql: GraphQL, provider: Receiver, kind: CredentialType,
    values: dict[str, Any], arrived: Any,
) -> None:  # fmt: skip
    tenant = UUID(await gql.create_tenant())
    made = await integration(services, tenant, provider.url + "/v1", kind, values)
    client = await services.integration_clients.client(WORKER, made.id)
    response = await client.post("/charges", content=b'{"amount": 100}')
    assert response.status_code == 200
    [request] = provider.received
    assert request.path == "/v1/charges" and request.method == "POST"
    assert arrived(request)
    secret = next(v for k, v in values.items() if k in {"key", "password", "token", "secret"})
    assert secret not in repr(client) and secret not in str(client.headers)


async def test_a_client_is_for_its_tenant_and_an_enabled_integration(
    services: Services, gql: GraphQL, provider: Receiver
) -> None:
    tenant = UUID(await gql.create_tenant())
    made = await integration(
        services, tenant, provider.url, CredentialType.BEARER, {"token": "t" * 12}
    )
    other = Principal("other-admin", Role.ADMIN, UUID(await gql.create_tenant()))
    with pytest.raises(Exception, match="not found"):
        await services.integration_clients.client(other, made.id)
    viewer = Principal("viewer", Role.VIEWER, tenant)
    with pytest.raises(Forbidden):
        await services.integration_clients.client(viewer, made.id)
    await services.integrations.update(WORKER, made.id, changes={"enabled": False})
    with pytest.raises(Conflict, match="is disabled"):
        await services.integration_clients.client(WORKER, made.id)


async def test_the_guard_holds_at_call_time(
    server: LiveServer, gql: GraphQL, provider: Receiver
) -> None:
    guarded = build_services(server.settings)  # private addresses refused
    tenant = UUID(await gql.create_tenant())
    row = await Integration.create(
        tenant_id=tenant, name="sneaky", type="CUSTOM", provider="custom", base_url=provider.url
    )  # as if its host had resolved publicly when it was registered
    client = await guarded.integration_clients.client(WORKER, row.id)
    with pytest.raises(BadUserInput, match=r"not a public address|private|loopback"):
        await client.get("/anything")
    await guarded.integration_clients.aclose()
    assert provider.received == []


async def test_one_pooled_client_per_integration_until_it_changes(
    services: Services, gql: GraphQL, provider: Receiver
) -> None:
    tenant = UUID(await gql.create_tenant())
    made = await integration(
        services, tenant, provider.url, CredentialType.BEARER, {"token": "a" * 12}
    )
    clients = services.integration_clients
    first = await clients.client(WORKER, made.id)
    assert await clients.client(WORKER, made.id) is first
    bearer = CredentialsInput(CredentialType.BEARER, {"token": "b" * 12})
    await services.integrations.update(WORKER, made.id, changes={"credentials": bearer})
    second = await clients.client(WORKER, made.id)
    assert second is not first and not first.is_closed  # in-flight requests may finish
    await second.get("/after-the-change")
    assert provider.received[-1].headers["authorization"] == "Bearer " + "b" * 12
