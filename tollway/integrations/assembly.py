"""The integration services of one process, built together: they share the keyring, the
breakers' Redis and the status transitions."""

from __future__ import annotations

from typing import NamedTuple

from tollway.alerts.lifecycle import AlertStore
from tollway.audit.service import AuditService
from tollway.connections import Connections
from tollway.integrations.breaker import breakers_for
from tollway.integrations.client import IntegrationClients
from tollway.integrations.health import IntegrationHealth
from tollway.integrations.registry import IntegrationService
from tollway.integrations.status import StatusTransitions
from tollway.keyring.vault import Vault
from tollway.settings import Settings
from tollway.webhooks.outbox import WebhookOutbox


class IntegrationServices(NamedTuple):
    """The registry, the outbound clients, health probing and status changes."""

    registry: IntegrationService
    clients: IntegrationClients
    health: IntegrationHealth
    transitions: StatusTransitions


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
    clients = IntegrationClients(
        vault, allow_private=allow_private, breakers=breakers_for(connections.redis)
    )
    transitions = StatusTransitions(alerts, outbox, bus=connections.bus)
    return IntegrationServices(
        registry, clients, IntegrationHealth(clients, transitions), transitions
    )
