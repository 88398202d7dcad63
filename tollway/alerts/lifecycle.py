"""Alert lifecycle: one open alert per source and subject, OPEN -> ACKNOWLEDGED -> RESOLVED.

An evaluation hands over every condition that holds now. A condition with an open alert
bumps its occurrence count; a new one opens an alert. An open alert whose condition no longer
holds is resolved once it has stayed clear for its cooldown. Alerts are stored before they
are published, so no listener is needed for an alert to exist.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from tollway.auth.principal import READ_ROLES, WRITE_ROLES, Principal
from tollway.errors import BadUserInput, Conflict, NotFound
from tollway.events import ALERTS_CHANNEL, EventBus
from tollway.models import Alert, AlertStatus, Severity
from tollway.pagination import Page, paginate
from tollway.sql import as_uuid
from tollway.webhooks.outbox import WebhookOutbox, iso

logger = logging.getLogger(__name__)

SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
OPEN_STATUSES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
MAX_NOTE = 2000


@dataclass(frozen=True, slots=True)
class Condition:
    """Something that holds right now and deserves an alert."""

    source: str
    """`rule:<id>` or a detector's name; with `subject`, what deduplicates alerts."""
    kind: str
    subject: str
    severity: Severity
    message: str
    tenant_id: UUID | None
    key_id: UUID | None = None
    rule_id: UUID | None = None
    value: float | None = None
    threshold: float | None = None
    cooldown_seconds: int = 300

    @property
    def open_key(self) -> str:
        """The deduplication key of its open alert."""
        return open_key(self.source, self.subject)


def open_key(source: str, subject: str) -> str:
    """The deduplication key of the open alert of `source` about `subject`."""
    return f"{source}|{subject}"[:300]


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Filters of the `alerts` query."""

    tenant_id: UUID | None = None
    status: AlertStatus | None = None
    severity_at_least: Severity | None = None
    kind: str | None = None
    key_id: UUID | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class AlertSummary:
    """Counts of open (and acknowledged) alerts per severity."""

    open: dict[Severity, int]
    acknowledged: dict[Severity, int]
    resolved_last_24h: int


def _at_least(severity: Severity) -> list[Severity]:
    return [s for s in Severity if SEVERITY_RANK[s] >= SEVERITY_RANK[severity]]


def alert_event(alert: Alert, event: str) -> dict[str, Any]:
    """The JSON published for an alert change (`alert.opened`, `.acknowledged`, `.resolved`)."""
    return {
        "event": event,
        "id": str(alert.id),
        "kind": alert.kind,
        "source": alert.source,
        "subject": alert.subject,
        "severity": alert.severity.value,
        "status": alert.status.value,
        "message": alert.message,
        "tenant_id": None if alert.tenant_id is None else str(alert.tenant_id),
        "key_id": None if alert.key_id is None else str(alert.key_id),
        "rule_id": None if alert.rule_id is None else str(alert.rule_id),
        "value": alert.value,
        "threshold": alert.threshold,
        "occurrences": alert.occurrences,
        "opened_at": alert.opened_at.isoformat(),
        "last_seen_at": alert.last_seen_at.isoformat(),
        "acknowledged_at": _iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "acknowledgement_note": alert.acknowledgement_note,
        "resolved_at": _iso(alert.resolved_at),
        "resolved_by": alert.resolved_by,
        "cooldown_seconds": alert.cooldown_seconds,
    }


def alert_from_event(data: dict[str, Any]) -> Alert:
    """An unsaved Alert rebuilt from its published form (for subscribers)."""
    return Alert(
        id=UUID(data["id"]), kind=data["kind"], source=data["source"], subject=data["subject"],
        severity=Severity(data["severity"]), status=AlertStatus(data["status"]),
        message=data["message"], tenant_id=as_uuid(data["tenant_id"]),
        key_id=as_uuid(data["key_id"]), rule_id=as_uuid(data["rule_id"]), value=data["value"],
        threshold=data["threshold"], occurrences=data["occurrences"],
        opened_at=datetime.fromisoformat(data["opened_at"]),
        last_seen_at=datetime.fromisoformat(data["last_seen_at"]),
        acknowledged_at=_datetime(data["acknowledged_at"]),
        acknowledged_by=data["acknowledged_by"],
        acknowledgement_note=data["acknowledgement_note"],
        resolved_at=_datetime(data["resolved_at"]), resolved_by=data["resolved_by"],
        cooldown_seconds=data["cooldown_seconds"],
    )  # fmt: skip


def webhook_events(event: str, alert: Alert) -> list[tuple[str, dict[str, Any]]]:
    """The webhook events of an alert change: the alert event itself, and `quota.*` or
    `security.detected` for the alerts of those detectors."""
    data: dict[str, Any] = {
        "alertId": str(alert.id), "kind": alert.kind, "source": alert.source,
        "subject": alert.subject, "severity": alert.severity.value,
        "status": alert.status.value, "message": alert.message,
        "tenantId": None if alert.tenant_id is None else str(alert.tenant_id),
        "keyId": None if alert.key_id is None else str(alert.key_id),
        "value": alert.value, "threshold": alert.threshold, "occurrences": alert.occurrences,
        "openedAt": iso(alert.opened_at),
        "acknowledgedBy": alert.acknowledged_by, "resolvedBy": alert.resolved_by,
    }  # fmt: skip
    events = [(event, data)]
    critical = alert.severity is Severity.CRITICAL
    if alert.source == "quota" and event == "alert.opened":
        # 80% and 100% crossed within one evaluation: the warning is due all the same.
        events.append(("quota.warning", data))
        if critical:
            events.append(("quota.exceeded", data))
    elif alert.source == "quota" and event == "alert.escalated" and critical:
        events.append(("quota.exceeded", data))
    elif alert.source.startswith("security.") and event == "alert.opened":
        events.append(("security.detected", data))
    return events


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class AlertStore:
    """Opens, counts, acknowledges and resolves alerts; publishes each change once stored."""

    def __init__(self, bus: EventBus, outbox: WebhookOutbox, *, max_page_size: int) -> None:
        self.bus = bus
        self.outbox = outbox
        self.max_page_size = max_page_size

    async def _emit(self, event: str, alert: Alert, now: datetime) -> None:
        """Webhook events for an alert change, in the change's transaction."""
        for event_type, data in webhook_events(event, alert):
            await self.outbox.emit(alert.tenant_id, event_type, data=data, now=now)

    async def raise_alert(self, condition: Condition, now: datetime) -> Alert | None:
        """Open an alert for a one-off condition (or count it again on the open one); it
        stays until resolved by hand."""
        opened, alert = await self.raise_unpublished(condition, now)
        if opened is not None:
            await self.publish("alert.opened", opened)
        return alert

    async def raise_unpublished(
        self, condition: Condition, now: datetime
    ) -> tuple[Alert | None, Alert | None]:
        """`raise_alert` inside the caller's transaction: (the alert opened, if it is new;
        the open alert). `publish` the opened one once the transaction commits."""
        existing = await Alert.get_or_none(open_key=condition.open_key)
        if existing is not None:
            existing.occurrences += 1
            existing.last_seen_at = now
            await existing.save(update_fields=["occurrences", "last_seen_at"])
            return None, existing
        opened = await self._open(condition, now)
        return opened, opened

    async def clear_unpublished(self, key: str, now: datetime, *, by: str) -> Alert | None:
        """Resolve the open alert of `key` (`open_key`, if any) inside the caller's transaction;
        `publish` it as `alert.resolved` once the transaction commits."""
        alert = await Alert.get_or_none(open_key=key)
        if alert is None:
            return None
        await self._close(alert, now, by)
        await self._emit("alert.resolved", alert, now)
        return alert

    async def publish(self, event: str, alert: Alert) -> None:
        """Tell live subscribers of a stored alert change."""
        await self.bus.publish(ALERTS_CHANNEL, alert_event(alert, event))

    async def apply(
        self, conditions: Iterable[Condition], sources: set[str], *, now: datetime
    ) -> list[tuple[str, Alert]]:
        """Record one evaluation of `sources`: what holds, and (by omission) what cleared.
        Returns the changes as (event, alert)."""
        holding = {c.open_key: c for c in conditions}
        changes: list[tuple[str, Alert]] = []
        current = await Alert.filter(status__in=OPEN_STATUSES, source__in=list(sources))
        by_key = {str(a.open_key): a for a in current}
        for key, condition in holding.items():
            alert = by_key.get(key)
            if alert is None:
                opened = await self._open(condition, now)
                if opened is not None:
                    changes.append(("alert.opened", opened))
                continue
            escalated = SEVERITY_RANK[condition.severity] > SEVERITY_RANK[alert.severity]
            if alert.cleared_at is not None or escalated:  # crossed again, or crossed higher
                alert.occurrences += 1
            alert.last_seen_at = now
            alert.cleared_at = None
            alert.value = condition.value
            alert.message = condition.message
            if escalated:
                alert.severity = condition.severity
            async with in_transaction():
                await alert.save(
                    update_fields=["occurrences", "last_seen_at", "cleared_at", "value",
                                   "message", "severity"]
                )  # fmt: skip
                if escalated:
                    await self._emit("alert.escalated", alert, now)
            if escalated:
                changes.append(("alert.escalated", alert))
        for key, alert in by_key.items():
            if key in holding:
                continue
            if alert.cleared_at is None:
                alert.cleared_at = now
                await alert.save(update_fields=["cleared_at"])
            if now - alert.cleared_at >= timedelta(seconds=alert.cooldown_seconds):
                async with in_transaction():
                    await self._close(alert, now, "tollway (condition cleared)")
                    await self._emit("alert.resolved", alert, now)
                changes.append(("alert.resolved", alert))
        for event, alert in changes:
            await self.bus.publish(ALERTS_CHANNEL, alert_event(alert, event))
        return changes

    async def _open(self, condition: Condition, now: datetime) -> Alert | None:
        try:
            async with in_transaction():
                alert = await Alert.create(
                    open_key=condition.open_key, source=condition.source,
                    rule_id=condition.rule_id, kind=condition.kind,
                    subject=condition.subject[:250], tenant_id=condition.tenant_id,
                    key_id=condition.key_id, severity=condition.severity,
                    status=AlertStatus.OPEN, message=condition.message, value=condition.value,
                    threshold=condition.threshold, occurrences=1,
                    cooldown_seconds=condition.cooldown_seconds, opened_at=now,
                    last_seen_at=now,
                )  # fmt: skip
                await self._emit("alert.opened", alert, now)
                return alert
        except IntegrityError:  # opened meanwhile (e.g. by a detector run elsewhere)
            return None

    async def _close(self, alert: Alert, now: datetime, by: str) -> None:
        alert.status = AlertStatus.RESOLVED
        alert.open_key = None
        alert.resolved_at = now
        alert.resolved_by = by
        await alert.save(update_fields=["status", "open_key", "resolved_at", "resolved_by"])

    async def get(self, principal: Principal, alert_id: UUID) -> Alert:
        """One alert the principal may see."""
        principal.require_role(READ_ROLES, "read alerts")
        alert = await Alert.get_or_none(id=alert_id)
        if alert is None or not principal.sees(alert.tenant_id):
            raise NotFound(f"alert {alert_id} not found")
        return alert

    async def acknowledge(self, principal: Principal, alert_id: UUID, *, note: str | None) -> Alert:
        """OPEN -> ACKNOWLEDGED, with who, when and an optional note."""
        principal.require_role(WRITE_ROLES, "acknowledge alerts")
        alert = await self.get(principal, alert_id)
        if alert.status is not AlertStatus.OPEN:
            raise Conflict(f"alert is {alert.status.value}; only an OPEN alert can be acknowledged")
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = datetime.now(UTC)
        alert.acknowledged_by = principal.subject
        alert.acknowledgement_note = _note(note)
        async with in_transaction():
            await alert.save(
                update_fields=["status", "acknowledged_at", "acknowledged_by",
                               "acknowledgement_note"]
            )  # fmt: skip
            await self._emit("alert.acknowledged", alert, alert.acknowledged_at)
        await self.bus.publish(ALERTS_CHANNEL, alert_event(alert, "alert.acknowledged"))
        return alert

    async def resolve(self, principal: Principal, alert_id: UUID, *, note: str | None) -> Alert:
        """Close an alert by hand; if its condition still holds, a new alert opens later."""
        principal.require_role(WRITE_ROLES, "resolve alerts")
        alert = await self.get(principal, alert_id)
        if alert.status is AlertStatus.RESOLVED:
            raise Conflict("alert is already RESOLVED")
        now = datetime.now(UTC)
        async with in_transaction():
            if note:
                alert.acknowledgement_note = _note(note)
                await alert.save(update_fields=["acknowledgement_note"])
            await self._close(alert, now, principal.subject)
            await self._emit("alert.resolved", alert, now)
        await self.bus.publish(ALERTS_CHANNEL, alert_event(alert, "alert.resolved"))
        return alert

    def _query(self, principal: Principal, flt: AlertFilter) -> QuerySet[Alert]:
        principal.require_role(READ_ROLES, "read alerts")
        query = Alert.all()
        tenant = principal.scope_tenant(flt.tenant_id)
        if tenant is not None:
            query = query.filter(tenant_id=tenant)
        if flt.status is not None:
            query = query.filter(status=flt.status)
        if flt.severity_at_least is not None:
            query = query.filter(severity__in=_at_least(flt.severity_at_least))
        if flt.kind:
            query = query.filter(kind=flt.kind)
        if flt.key_id is not None:
            query = query.filter(key_id=flt.key_id)
        if flt.since is not None:
            query = query.filter(opened_at__gte=flt.since)
        return query

    async def list(
        self, principal: Principal, flt: AlertFilter, *, first: int | None, after: str | None
    ) -> Page[Alert]:
        """Newest first."""
        return await paginate(
            self._query(principal, flt), first=first, after=after, sort_field="opened_at",
            descending=True, max_page_size=self.max_page_size,
        )  # fmt: skip

    async def summary(self, principal: Principal, tenant_id: UUID | None) -> AlertSummary:
        """Open and acknowledged alerts per severity, and how many resolved in 24 hours."""
        query = self._query(principal, AlertFilter(tenant_id=tenant_id))
        rows = await query.filter(status__in=OPEN_STATUSES).values_list("status", "severity")
        counts = {s: dict.fromkeys(Severity, 0) for s in OPEN_STATUSES}
        for status, severity in rows:
            counts[AlertStatus(status)][Severity(severity)] += 1
        since = datetime.now(UTC) - timedelta(hours=24)
        resolved = await query.filter(status=AlertStatus.RESOLVED, resolved_at__gte=since).count()
        return AlertSummary(counts[AlertStatus.OPEN], counts[AlertStatus.ACKNOWLEDGED], resolved)

    async def live(
        self, principal: Principal, severity_at_least: Severity, *, tenant_id: UUID | None
    ) -> AsyncIterator[Alert]:
        """Alert changes as they are stored, on any instance, that the principal may see."""
        principal.require_role(READ_ROLES, "read alerts")
        scope = principal.scope_tenant(tenant_id)
        wanted = {s.value for s in _at_least(severity_at_least)}
        async for data in self.bus.subscribe(ALERTS_CHANNEL):
            if data.get("severity") not in wanted:
                continue
            if scope is not None and data.get("tenant_id") != str(scope):
                continue
            try:
                yield alert_from_event(data)
            except (KeyError, ValueError, TypeError):
                logger.warning("dropping malformed alert event")


def _note(note: str | None) -> str | None:
    if note is not None and len(note) > MAX_NOTE:
        raise BadUserInput(f"note: at most {MAX_NOTE} characters")
    return note
