"""OAuth2 against a local provider over real HTTP: the authorization code flow with PKCE
through Tollway's callback, tokens renewed before expiry, 50 concurrent calls (on one instance
or two) renewing once, a failing provider backed off until AUTH_FAILED with its alert, and
client credentials."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx
import pytest

from tests.clock import ManualClock
from tests.conftest import GraphQL, LiveServer
from tests.integrations.conftest import built_services
from tests.integrations.oauth_provider import OAuthProvider, oauth_provider
from tollway.auth.principal import WORKER
from tollway.integrations.assembly import token_endpoint
from tollway.integrations.breaker import MemoryBreakers
from tollway.integrations.client import IntegrationClients
from tollway.integrations.grants import AuthUnavailable, RenewalPolicy
from tollway.integrations.registry import CredentialsInput, IntegrationFields
from tollway.integrations.tokens import TokenKeeper
from tollway.models import (
    Alert,
    AlertStatus,
    CredentialType,
    Integration,
    IntegrationStatus,
    IntegrationToken,
    OAuthState,
    WebhookEvent,
)
from tollway.services import Services
from tollway.webhooks.endpoints import EndpointFields

CODE = CredentialType.OAUTH2_AUTHORIZATION_CODE


@pytest.fixture
async def provider() -> AsyncIterator[OAuthProvider]:
    async with oauth_provider() as running:
        yield running


class Instance:
    """One Tollway instance's outbound side, on a clock the test moves."""

    def __init__(self, services: Services, clock: ManualClock, policy: RenewalPolicy) -> None:
        self.keeper = TokenKeeper(
            services.keyring.vault, token_endpoint(allow_private=True),
            transitions=services.integration_status, policy=policy, clock=clock,
        )  # fmt: skip
        self.clients = IntegrationClients(
            services.keyring.vault, allow_private=True, breakers=MemoryBreakers(),
            keeper=self.keeper,
        )  # fmt: skip

    async def get(self, made: Integration, path: str = "/api/me") -> httpx.Response:
        client = await self.clients.client(WORKER, made.id)
        return await client.get(path)


@pytest.fixture
async def services(proxy_server: LiveServer) -> AsyncIterator[Services]:
    """Services of the instance whose callback the provider sends users back to."""
    async with built_services(proxy_server.settings) as built:
        yield built


@pytest.fixture
def gql(pgql: GraphQL) -> GraphQL:
    """GraphQL against the instance that may reach the local provider (its callback too)."""
    return pgql


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def instances(
    services: Services, clock: ManualClock
) -> AsyncIterator[tuple[Instance, Instance]]:
    policy = RenewalPolicy(give_up_after_seconds=60)
    pair = (Instance(services, clock, policy), Instance(services, clock, policy))
    yield pair
    for instance in pair:
        await instance.clients.aclose()


async def integration(
    services: Services, gql: GraphQL, provider: OAuthProvider, *, kind: CredentialType = CODE
) -> Integration:
    tenant = UUID(await gql.create_tenant())
    await services.webhook_endpoints.create(
        WORKER, tenant, new=EndpointFields(url="http://127.0.0.1:9/hook", event_types=["*"])
    )
    values = provider.authorization() if kind is CODE else provider.client_credentials()
    return await services.integrations.create(
        WORKER, tenant,
        new=IntegrationFields(
            name="crm", provider="custom", base_url=provider.url,
            credentials=CredentialsInput(kind, values),
        ),
    )  # fmt: skip


async def authorize(
    gql: GraphQL, made: Integration, *, return_url: str | None = None
) -> httpx.Response:
    """Start the flow over GraphQL, consent at the provider, land on Tollway's callback."""
    started = await gql.data(
        "mutation($id: ID!, $r: String) { startIntegrationAuthorization(id: $id, returnUrl: $r)"
        " { url state expiresAt } }",
        {"id": str(made.id), "r": return_url},
    )
    start = started["startIntegrationAuthorization"]
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(start["url"])
        assert consent.status_code == 302, consent.text
        return await browser.get(consent.headers["location"])


async def authorized(services: Services, gql: GraphQL, provider: OAuthProvider) -> Integration:
    """An integration that went through the flow."""
    made = await integration(services, gql, provider)
    await authorize(gql, made)
    return made


async def test_authorization_code_with_pkce_through_the_callback(
    services: Services, gql: GraphQL, provider: OAuthProvider,
    instances: tuple[Instance, Instance],
) -> None:  # fmt: skip
    made = await integration(services, gql, provider)
    one, _ = instances
    with pytest.raises(AuthUnavailable, match="not authorized yet"):
        await one.get(made)
    landed = await authorize(gql, made, return_url="https://app.example/done?tab=crm")
    assert landed.status_code == 303
    back = urlsplit(landed.headers["location"])
    assert (back.netloc, back.path) == ("app.example", "/done")
    assert parse_qs(back.query) == {
        "tab": ["crm"], "integration": [str(made.id)], "result": ["connected"],
    }  # fmt: skip
    assert provider.grants["authorization_code"] == 1  # the PKCE verifier matched
    answer = await one.get(made)
    assert answer.status_code == 200 and provider.api_calls[-1] in provider.access
    stored = await IntegrationToken.get(integration_id=made.id)
    assert stored.state is OAuthState.CONNECTED and stored.tokens
    assert provider.api_calls[-1] not in stored.tokens  # sealed
    state = await gql.data(
        "query($id: ID!) { integration(id: $id) { oauth { state scope tokenHint expiresAt } } }",
        {"id": str(made.id)},
    )
    oauth = state["integration"]["oauth"]
    assert oauth["state"] == "CONNECTED" and oauth["tokenHint"] == provider.api_calls[-1][-4:]


async def test_the_callback_refuses_a_reused_or_unknown_state(
    services: Services, proxy_server: LiveServer, gql: GraphQL, provider: OAuthProvider
) -> None:
    server = proxy_server
    made = await integration(services, gql, provider)
    started = await services.integration_authorizations.start(WORKER, made.id, return_url=None)
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(started.url)
        callback = consent.headers["location"]
        first = await browser.get(callback)
        again = await browser.get(callback)
        unknown = await browser.get(server.base_url + "/integrations/oauth/callback?state=x")
        refused = await browser.get(
            server.base_url + "/integrations/oauth/callback?error=access_denied&state=y"
        )
    assert first.status_code == 200 and "Connected" in first.text
    assert again.status_code == 400 and "already used" in again.text
    assert unknown.status_code == 400 and refused.status_code == 400
    assert provider.grants["authorization_code"] == 1


async def test_tokens_are_renewed_before_they_expire(
    services: Services, gql: GraphQL, provider: OAuthProvider,
    instances: tuple[Instance, Instance], clock: ManualClock,
) -> None:  # fmt: skip
    provider.expires_in = 120  # renewed 30 s before expiry (a quarter of its lifetime)
    made = await authorized(services, gql, provider)
    one, _ = instances
    await one.get(made)
    first = provider.api_calls[-1]
    await clock.advance(80)
    await one.get(made)
    assert provider.api_calls[-1] == first and provider.grants["refresh_token"] == 0
    await clock.advance(15)  # 95 s: due, 25 s before expiry
    assert (await one.get(made)).status_code == 200
    assert provider.grants["refresh_token"] == 1 and provider.api_calls[-1] != first
    stored = await IntegrationToken.get(integration_id=made.id)
    assert stored.renewals == 1 and stored.failures == 0


async def test_fifty_concurrent_calls_on_two_instances_renew_once(
    services: Services, gql: GraphQL, provider: OAuthProvider,
    instances: tuple[Instance, Instance], clock: ManualClock,
) -> None:  # fmt: skip
    made = await authorized(services, gql, provider)
    one, two = instances
    await clock.advance(3600)  # expired: nobody may call with the old token
    provider.token_delay = 0.2
    answers = await asyncio.gather(*(one.get(made) for _ in range(25)),
                                   *(two.get(made) for _ in range(25)))  # fmt: skip
    assert [a.status_code for a in answers] == [200] * 50
    assert provider.grants["refresh_token"] == 1
    provider.token_delay = 0
    await clock.advance(3600)
    answers = await asyncio.gather(*(one.get(made) for _ in range(50)))
    assert {a.status_code for a in answers} == {200} and provider.grants["refresh_token"] == 2


async def test_a_refused_token_is_renewed_once_and_the_call_sent_again(
    services: Services, gql: GraphQL, provider: OAuthProvider,
    instances: tuple[Instance, Instance],
) -> None:  # fmt: skip
    made = await authorized(services, gql, provider)
    one, _ = instances
    await one.get(made)
    provider.revoke_access()
    answers = await asyncio.gather(*(one.get(made) for _ in range(10)))
    assert {a.status_code for a in answers} == {200}
    assert provider.grants["refresh_token"] == 1


async def events(made: Integration) -> list[str]:
    rows = await WebhookEvent.filter(tenant_id=made.tenant_id).order_by("created_at")
    return [r.type for r in rows]


async def test_a_failing_provider_is_backed_off_then_auth_failed_with_its_alert(
    services: Services, gql: GraphQL, provider: OAuthProvider,
    instances: tuple[Instance, Instance], clock: ManualClock,
) -> None:  # fmt: skip
    made = await authorized(services, gql, provider)
    one, _ = instances
    await clock.advance(3600)
    provider.failing = "unavailable"
    attempts = []
    for wait in [0, 1, 4, 10, 20, 40]:  # retries after 5, 10, 20 and 40 s
        await clock.advance(wait)
        for _ in range(5):  # in the cooldown, calls fail fast without asking the provider
            with pytest.raises(AuthUnavailable):
                await one.get(made)
        attempts.append(provider.grants["refresh_token"])
    assert attempts == [1, 1, 2, 3, 4, 5]
    row = await Integration.get(id=made.id)
    assert row.status is IntegrationStatus.AUTH_FAILED  # failing for 75 s > 60 s
    alert = await Alert.get(tenant_id=made.tenant_id)
    assert (alert.kind, alert.status) == ("INTEGRATION_AUTH_FAILED", AlertStatus.OPEN)
    assert "integration.auth_failed" in await events(made)
    stored = await IntegrationToken.get(integration_id=made.id)
    assert stored.state is OAuthState.FAILED and "503" in (stored.last_error or "")

    provider.failing = None  # the provider recovers: the next retry succeeds
    await clock.advance(80)
    assert (await one.get(made)).status_code == 200
    assert (await Integration.get(id=made.id)).status is IntegrationStatus.HEALTHY
    assert (await Alert.get(id=alert.id)).status is AlertStatus.RESOLVED
    assert "integration.recovered" in await events(made)


async def test_a_revoked_refresh_token_is_auth_failed_at_once(
    services: Services, gql: GraphQL, provider: OAuthProvider,
    instances: tuple[Instance, Instance], clock: ManualClock,
) -> None:  # fmt: skip
    made = await authorized(services, gql, provider)
    one, _ = instances
    await clock.advance(3600)
    provider.failing = "invalid_grant"
    with pytest.raises(AuthUnavailable, match="invalid_grant"):
        await one.get(made)
    await clock.advance(3600)
    with pytest.raises(AuthUnavailable, match="authorize it again"):
        await one.get(made)
    assert provider.grants["refresh_token"] == 1  # never asked again
    assert (await Integration.get(id=made.id)).status is IntegrationStatus.AUTH_FAILED
    provider.failing = None
    await authorize(gql, made)  # authorized anew: back in service
    assert (await one.get(made)).status_code == 200
    assert (await Integration.get(id=made.id)).status is IntegrationStatus.HEALTHY


async def test_client_credentials_are_granted_reused_and_renewed(
    services: Services, gql: GraphQL, provider: OAuthProvider,
    instances: tuple[Instance, Instance], clock: ManualClock,
) -> None:  # fmt: skip
    made = await integration(services, gql, provider, kind=CredentialType.OAUTH2_CLIENT_CREDENTIALS)
    one, two = instances
    answers = await asyncio.gather(*(one.get(made) for _ in range(10)), two.get(made))
    assert {a.status_code for a in answers} == {200}
    assert provider.grants["client_credentials"] == 1
    await clock.advance(3600)
    assert (await one.get(made)).status_code == 200
    assert provider.grants["client_credentials"] == 2


START = "mutation($id: ID!, $r: String) { startIntegrationAuthorization(id: $id, returnUrl: $r) { url } }"


async def test_starting_an_authorization_refuses_bad_input(
    services: Services, gql: GraphQL, provider: OAuthProvider
) -> None:
    made = await integration(services, gql, provider)
    other = await integration(
        services, gql, provider, kind=CredentialType.OAUTH2_CLIENT_CREDENTIALS
    )
    cases: list[tuple[dict[str, Any], str]] = [
        ({"id": str(made.id), "r": "javascript:alert(1)"}, "BAD_USER_INPUT"),
        ({"id": str(other.id), "r": None}, "CONFLICT"),
    ]
    for variables, code in cases:
        assert await gql.error_code(START, variables) == code
