"""Integration status changes, each stored in one transaction with what it causes: webhook
events (`integration.health_changed`, `.recovered`, `.auth_failed`) and an alert, opened on
DOWN or AUTH_FAILED and resolved when the integration is back. Once committed, the change is
published for `integrationStatus` subscribers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple
from uuid import UUID

from tortoise.transactions import in_transaction

from tollway.alerts.lifecycle import AlertStore, Condition, open_key
from tollway.auth.principal import READ_ROLES, Principal
from tollway.events import INTEGRATIONS_CHANNEL, EventBus
from tollway.integrations.breaker import BreakerChange
from tollway.models import Alert, Integration, IntegrationEnvironment, IntegrationStatus, Severity
from tollway.webhooks.outbox import WebhookOutbox, iso

logger = logging.getLogger(__name__)

ALERT_SOURCE = "integrations.health"
ALERTING = {
    IntegrationStatus.DOWN: "INTEGRATION_DOWN",
    IntegrationStatus.AUTH_FAILED: "INTEGRATION_AUTH_FAILED",
}
"""The statuses that open an alert, and the alert's kind."""


class LiveKind(StrEnum):
    """What an `integrationStatus` event reports a change of."""

    HEALTH = "HEALTH"
    BREAKER = "BREAKER"
    AUTH = "AUTH"


class LiveChange(NamedTuple):
    """One change pushed to `integrationStatus` subscribers."""

    kind: LiveKind
    integration_id: UUID
    tenant_id: UUID
    name: str
    previous: str
    current: str
    reason: str
    at: datetime

    def as_event(self) -> dict[str, Any]:
        """Its published form."""
        return {
            "kind": self.kind.value, "integration_id": str(self.integration_id),
            "tenant_id": str(self.tenant_id), "name": self.name, "previous": self.previous,
            "current": self.current, "reason": self.reason, "at": self.at.isoformat(),
        }  # fmt: skip

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> LiveChange:
        """From its published form (KeyError or ValueError when malformed)."""
        return cls(
            LiveKind(data["kind"]), UUID(data["integration_id"]), UUID(data["tenant_id"]),
            str(data["name"]), str(data["previous"]), str(data["current"]),
            str(data["reason"]), datetime.fromisoformat(data["at"]),
        )  # fmt: skip


def alert_key(integration_id: UUID) -> str:
    """The open-alert key of an integration's health incident."""
    return open_key(ALERT_SOURCE, _subject(integration_id))


def _subject(integration_id: UUID) -> str:
    return f"integration:{integration_id}"


def _event_data(row: Integration, before: IntegrationStatus, reason: str, at: datetime) -> Any:
    return {
        "integrationId": str(row.id), "tenantId": str(row.tenant_id), "name": row.name,
        "provider": row.provider, "environment": row.environment.value,
        "previousStatus": before.value, "status": row.status.value, "reason": reason,
        "changedAt": iso(at),
    }  # fmt: skip


class StatusTransitions:
    """Moves integrations between statuses, exactly once per change across instances."""

    def __init__(self, alerts: AlertStore, outbox: WebhookOutbox, *, bus: EventBus) -> None:
        self._alerts = alerts
        self._outbox = outbox
        self._bus = bus

    async def apply(
        self, row: Integration, status: IntegrationStatus, *, reason: str, now: datetime,
        expect: dict[str, Any] | None = None, also: dict[str, Any] | None = None,
    ) -> bool:  # fmt: skip
        """Store `status` (with the columns in `also`) if the row still holds its loaded
        status and the values in `expect`; False when another writer came first (reload and
        decide again). `row` is updated on success."""
        before = row.status
        changed = status is not before
        values = dict(also or {}) | (
            {"status": status, "status_changed_at": now} if changed else {}
        )
        opened: Alert | None = None
        resolved: Alert | None = None
        async with in_transaction():
            query = Integration.filter(id=row.id, status=before, **(expect or {}))
            if not values:
                return await query.exists()
            if not await query.update(**values):
                return False
            row.update_from_dict(values)
            if changed:
                opened, resolved = await self._consequences(row, before, reason, now)
        if opened is not None:
            await self._alerts.publish("alert.opened", opened)
        if resolved is not None:
            await self._alerts.publish("alert.resolved", resolved)
        if changed:
            await self.publish(
                LiveChange(LiveKind.HEALTH, row.id, row.tenant_id, row.name, before.value,
                           status.value, reason, now)
            )  # fmt: skip
        return True

    async def publish(self, change: LiveChange) -> None:
        """Tell `integrationStatus` subscribers (on every instance) of a stored change."""
        await self._bus.publish(INTEGRATIONS_CHANNEL, change.as_event())

    async def breaker_changed(self, integration: Integration, change: BreakerChange) -> None:
        """Tell subscribers of a breaker transition made by this instance's calls."""
        await self.publish(
            LiveChange(
                LiveKind.BREAKER, integration.id, integration.tenant_id, integration.name,
                change.previous.value, change.current.value,
                f"circuit breaker {change.current.value.lower().replace('_', '-')}",
                datetime.fromtimestamp(change.at_ms / 1000, UTC),
            )
        )  # fmt: skip

    async def live(
        self, principal: Principal, *, tenant_id: UUID | None, integration_id: UUID | None
    ) -> AsyncIterator[LiveChange]:
        """Changes of health, breaker and authentication, on any instance, of the
        integrations the principal may see (one tenant's, or one integration's)."""
        principal.require_role(READ_ROLES, "follow integrations")
        scope = principal.scope_tenant(tenant_id)
        async for data in self._bus.subscribe(INTEGRATIONS_CHANNEL):
            try:
                change = LiveChange.from_event(data)
            except (KeyError, ValueError, TypeError):
                logger.warning("dropping malformed integration event")
                continue
            if scope is not None and change.tenant_id != scope:
                continue
            if integration_id is not None and change.integration_id != integration_id:
                continue
            yield change

    async def _consequences(
        self, row: Integration, before: IntegrationStatus, reason: str, now: datetime
    ) -> tuple[Alert | None, Alert | None]:
        data = _event_data(row, before, reason, now)
        await self._outbox.emit(row.tenant_id, "integration.health_changed", data=data, now=now)
        if row.status is IntegrationStatus.AUTH_FAILED:
            await self._outbox.emit(row.tenant_id, "integration.auth_failed", data=data, now=now)
        opened = resolved = None
        if row.status in ALERTING:
            opened, _ = await self._alerts.raise_unpublished(self._condition(row, reason), now)
        elif before in ALERTING:
            resolved = await self._alerts.clear_unpublished(
                alert_key(row.id), now, by=f"tollway (integration {row.status.value.lower()})"
            )
            if row.status is IntegrationStatus.HEALTHY:
                await self._outbox.emit(row.tenant_id, "integration.recovered", data=data, now=now)
        return opened, resolved

    @staticmethod
    def _condition(row: Integration, reason: str) -> Condition:
        production = row.environment is IntegrationEnvironment.PRODUCTION
        what = "is down" if row.status is IntegrationStatus.DOWN else "cannot authenticate"
        return Condition(
            source=ALERT_SOURCE, kind=ALERTING[row.status], subject=_subject(row.id),
            severity=Severity.CRITICAL if production else Severity.WARNING,
            message=f"integration {row.name!r} ({row.provider}) {what}: {reason}"[:2000],
            tenant_id=row.tenant_id,
        )  # fmt: skip
