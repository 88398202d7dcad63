"""The integration services of one process, built together: they share the keyring, the
breakers' Redis and the status transitions."""

from __future__ import annotations

import ssl
from typing import NamedTuple

import httpx

from tollway.alerts.lifecycle import AlertStore
from tollway.audit.service import AuditService
from tollway.connections import Connections
from tollway.integrations.authorization import IntegrationAuthorizations
from tollway.integrations.breaker import breakers_for
from tollway.integrations.client import GuardedTransport, IntegrationClients
from tollway.integrations.grants import RenewalPolicy
from tollway.integrations.health import IntegrationHealth
from tollway.integrations.oauth import TOKEN_TIMEOUT, TokenEndpoint
from tollway.integrations.registry import IntegrationService
from tollway.integrations.status import StatusTransitions
from tollway.integrations.tokens import TokenKeeper
from tollway.keyring.vault import Vault
from tollway.settings import Settings
from tollway.webhooks.outbox import WebhookOutbox


def token_endpoint(*, allow_private: bool, tls: ssl.SSLContext | None = None) -> TokenEndpoint:
    """Token requests through the SSRF guard (past no breaker: a token endpoint failing is
    an authentication failure, backed off by the keeper)."""
    verify = tls or ssl.create_default_context()
    transport = GuardedTransport(allow_private=allow_private, verify=verify, breaker=None)
    return TokenEndpoint(
        httpx.AsyncClient(transport=transport, timeout=TOKEN_TIMEOUT, follow_redirects=False)
    )


class IntegrationServices(NamedTuple):
    """The registry, the outbound clients, health probing and status changes."""

    registry: IntegrationService
    clients: IntegrationClients
    health: IntegrationHealth
    transitions: StatusTransitions
    authorizations: IntegrationAuthorizations


def integration_services(
    settings: Settings,
    connections: Connections,
    *,
    audit: AuditService,
    vault: Vault,
    alerts: AlertStore,
    outbox: WebhookOutbox,
) -> IntegrationServices:
    """Integrations under the webhooks' SSRF guard settings, breakers shared through the
    process's Redis (memory when embedded)."""
    allow_private = settings.webhook_allow_private_networks
    registry = IntegrationService(
        audit, vault, allow_private=allow_private, max_page_size=settings.graphql_page_size_max
    )
    transitions = StatusTransitions(alerts, outbox, bus=connections.bus)
    tls = ssl.create_default_context()
    keeper = TokenKeeper(
        vault,
        token_endpoint(allow_private=allow_private, tls=tls),
        transitions=transitions,
        policy=RenewalPolicy(give_up_after_seconds=settings.integration_auth_failed_after_seconds),
    )
    clients = IntegrationClients(
        vault, allow_private=allow_private, breakers=breakers_for(connections.redis),
        keeper=keeper, on_breaker_change=transitions.breaker_changed, tls=tls,
    )  # fmt: skip
    authorizations = IntegrationAuthorizations(
        vault, keeper, audit=audit, base_url=settings.base_url
    )
    return IntegrationServices(
        registry, clients, IntegrationHealth(clients, transitions), transitions, authorizations
    )
