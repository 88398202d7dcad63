"""Usage reported from elsewhere (`recordUsage`): services not behind the middleware and
outbound calls to third-party APIs. Idempotent on the client's event id."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from uuid import NAMESPACE_URL, UUID, uuid5

from tollway.auth.principal import KEY_USE_ROLES, Principal
from tollway.errors import BadUserInput, NotFound, ServiceUnavailable
from tollway.metering.records import UsageRecord
from tollway.metering.sink import write_usage
from tollway.models import ApiKey, MeteredService
from tollway.signals import Signals, Topic
from tollway.sql import as_datetime

MAX_EVENTS = 1000
MAX_FUTURE = timedelta(minutes=5)
MAX_UNITS = 10**15
EVENT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")
_NAMESPACE = uuid5(NAMESPACE_URL, "https://tollway.dev/usage-events")


@dataclass(frozen=True, slots=True)
class ReportedEvent:
    """One `UsageEventInput`."""

    event_id: str
    service: str
    units: int
    tenant_id: UUID | None = None
    key_id: UUID | None = None
    unit_type: str | None = None
    cost: Decimal | None = None
    currency: str | None = None
    at: datetime | None = None
    route: str | None = None
    method: str | None = None
    status: int = 200
    latency_ms: float | None = None
    request_bytes: int = 0
    response_bytes: int = 0


def stored_event_id(tenant_id: UUID | None, client_id: str) -> UUID:
    """The stored id of a client's event: the same client id in two tenants never collides."""
    return uuid5(_NAMESPACE, f"{tenant_id or '-'}/{client_id}")


class UsageReporter:
    """Validates reported events and writes them (duplicates by event id are ignored)."""

    def __init__(self, raw_retention: timedelta, signals: Signals | None = None) -> None:
        self.raw_retention = raw_retention
        self.signals = signals

    async def record(self, principal: Principal, events: Sequence[ReportedEvent]) -> int:
        """Store `events`; returns how many were accepted (a repeat is accepted, not stored
        twice). Any invalid event rejects the whole call with its index."""
        principal.require_role(KEY_USE_ROLES, "record usage")
        if not events:
            raise BadUserInput("events must not be empty")
        if len(events) > MAX_EVENTS:
            raise BadUserInput(
                f"{len(events)} events in one call; at most {MAX_EVENTS} (send batches)"
            )
        services = {
            s.name: s for s in await MeteredService.filter(name__in={e.service for e in events})
        }
        key_tenants = await self._key_tenants({e.key_id for e in events if e.key_id})
        now = datetime.now(UTC)
        records = [
            self._record(principal, index, event, services, key_tenants, now)
            for index, event in enumerate(events)
        ]
        try:
            await write_usage(records, replay=True)
        except Exception as exc:
            raise ServiceUnavailable("usage could not be stored; retry with the same ids") from exc
        if self.signals is not None:
            self.signals.announce(Topic.USAGE)
        return len(records)

    async def _key_tenants(self, key_ids: set[UUID]) -> dict[UUID, UUID]:
        rows = await ApiKey.filter(id__in=key_ids).values_list("id", "tenant_id")
        return {UUID(str(k)): UUID(str(t)) for k, t in rows}

    def _record(
        self,
        principal: Principal,
        index: int,
        event: ReportedEvent,
        services: dict[str, MeteredService],
        key_tenants: dict[UUID, UUID],
        now: datetime,
    ) -> UsageRecord:
        where = f"events[{index}]"
        if not EVENT_ID.match(event.event_id):
            raise BadUserInput(f"{where}.eventId: 1-100 letters, digits or ._:- characters")
        service = services.get(event.service)
        if service is None:
            raise NotFound(f"{where}.service: unknown service {event.service!r}")
        tenant = principal.scope_tenant(event.tenant_id)
        if event.key_id is not None:
            owner = key_tenants.get(event.key_id)
            if owner is None or (tenant is not None and owner != tenant):
                raise NotFound(f"{where}.apiKeyId: no such key in this tenant")
            tenant = owner
        if not 0 <= event.units <= MAX_UNITS:
            raise BadUserInput(f"{where}.units must be between 0 and {MAX_UNITS}")
        if event.unit_type is not None and event.unit_type != service.unit_type:
            raise BadUserInput(
                f"{where}.unitType: {event.service} is metered in {service.unit_type}, "
                f"not {event.unit_type}"
            )
        at = self._moment(where, event.at, now)
        return UsageRecord(
            event_id=stored_event_id(tenant, event.event_id),
            at=at,
            tenant_id=None if tenant is None else str(tenant),
            key_id=None if event.key_id is None else str(event.key_id),
            method=(event.method or "CALL").upper()[:10],
            route=(event.route or event.service)[:200],
            path=(event.route or event.service)[:2000],
            status=self._status(where, event.status),
            error_code=None,
            latency_ms=self._latency(where, event.latency_ms),
            request_bytes=max(0, event.request_bytes),
            response_bytes=max(0, event.response_bytes),
            client_ip=None,
            user_agent=None,
            api_version=None,
            cost_units=0,
            service=service.name,
            units=event.units,
            unit_type=service.unit_type,
            cost=self._cost(where, event, service),
        )

    def _moment(self, where: str, at: datetime | None, now: datetime) -> datetime:
        if at is None:
            return now
        moment = as_datetime(at)
        if moment > now + MAX_FUTURE:
            raise BadUserInput(f"{where}.at is in the future")
        if moment < now - self.raw_retention:
            raise BadUserInput(f"{where}.at is older than the raw retention period")
        return moment

    def _status(self, where: str, status: int) -> int:
        if not 100 <= status <= 599:
            raise BadUserInput(f"{where}.status must be an HTTP status (100-599)")
        return status

    def _latency(self, where: str, latency: float | None) -> float:
        if latency is None:
            return 0.0
        if not 0 <= latency <= 86_400_000:
            raise BadUserInput(f"{where}.latencyMs must be between 0 and 86400000")
        return latency

    def _cost(self, where: str, event: ReportedEvent, service: MeteredService) -> Decimal | None:
        if event.cost is None:
            if event.currency is not None and event.currency != service.currency:
                raise BadUserInput(
                    f"{where}.currency: {service.name} is priced in {service.currency}"
                )
            return None
        currency = event.currency or service.currency
        if currency != service.currency:
            raise BadUserInput(
                f"{where}.currency: {service.name} is priced in {service.currency}, not {currency}"
            )
        try:
            cost = Decimal(event.cost)
        except InvalidOperation:
            raise BadUserInput(f"{where}.cost is not a decimal amount") from None
        if not cost.is_finite() or cost < 0 or cost >= Decimal(10) ** 12:
            raise BadUserInput(f"{where}.cost must be between 0 and 10^12")
        if cost != cost.quantize(Decimal("0.000001")):
            raise BadUserInput(f"{where}.cost has more than 6 decimal places")
        return cost
