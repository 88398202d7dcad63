"""Writing and reading the audit log. Every admin mutation records one entry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from tortoise.queryset import QuerySet

from tollway.auth.principal import READ_ROLES, Principal
from tollway.errors import BadUserInput
from tollway.events import AUDIT_CHANNEL, EventBus
from tollway.models import AuditEntry
from tollway.pagination import Page, paginate

REDACTED = "[REDACTED]"
_SECRET_MARKERS = ("secret", "token", "password", "hash", "credential", "private_key")


def redact(changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of `changes` with every secret-looking field (at any depth) replaced."""
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if any(marker in name.lower() for marker in _SECRET_MARKERS):
            clean[name] = REDACTED
        elif isinstance(value, dict):
            clean[name] = redact(value)
        else:
            clean[name] = value
    return clean


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Optional filters for `auditLog`."""

    tenant_id: UUID | None = None
    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditService:
    """Records changes and answers audit-log queries, tenant-scoped."""

    def __init__(self, bus: EventBus, max_page_size: int) -> None:
        self._bus = bus
        self._max_page_size = max_page_size

    async def record(
        self,
        principal: Principal,
        action: str,
        *,
        target_type: str,
        target_id: object,
        tenant_id: UUID | None,
        changes: dict[str, Any],
    ) -> AuditEntry:
        """Store one entry; call inside the change's transaction, then `announce` after it."""
        return await AuditEntry.create(
            tenant_id=tenant_id,
            actor=principal.subject,
            actor_role=principal.role.value,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            changes=redact(_jsonable(changes)),
        )

    def announce(self, entry: AuditEntry) -> None:
        """Publish a committed entry to live subscribers (never before it is stored)."""
        self._bus.publish_later(AUDIT_CHANNEL, entry_to_event(entry))

    def _query(self, principal: Principal, flt: AuditFilter) -> QuerySet[AuditEntry]:
        principal.require_role(READ_ROLES, "read the audit log")
        if flt.since and flt.until and flt.since > flt.until:
            raise BadUserInput("since must not be after until")
        query = AuditEntry.all()
        tenant_id = principal.scope_tenant(flt.tenant_id)
        if tenant_id is not None:
            query = query.filter(tenant_id=tenant_id)
        if flt.actor:
            query = query.filter(actor=flt.actor)
        if flt.action:
            query = query.filter(action=flt.action)
        if flt.target_type:
            query = query.filter(target_type=flt.target_type)
        if flt.target_id:
            query = query.filter(target_id=flt.target_id)
        if flt.since:
            query = query.filter(at__gte=flt.since)
        if flt.until:
            query = query.filter(at__lt=flt.until)
        return query

    async def list(
        self, principal: Principal, flt: AuditFilter, *, first: int | None, after: str | None
    ) -> Page[AuditEntry]:
        """Newest first."""
        return await paginate(
            self._query(principal, flt),
            first=first,
            after=after,
            sort_field="at",
            descending=True,
            max_page_size=self._max_page_size,
        )

    async def live(self, principal: Principal, tenant_id: UUID | None) -> AsyncIterator[AuditEntry]:
        """Entries as they are committed, only those the principal may see."""
        principal.require_role(READ_ROLES, "read the audit log")
        scope = principal.scope_tenant(tenant_id)
        async for data in self._bus.subscribe(AUDIT_CHANNEL):
            if scope is None or data.get("tenant_id") == str(scope):
                yield entry_from_event(data)


def entry_to_event(entry: AuditEntry) -> dict[str, Any]:
    """The JSON form of an entry published on the audit channel."""
    return {
        "id": str(entry.id),
        "tenant_id": str(entry.tenant_id) if entry.tenant_id else None,
        "actor": entry.actor,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "changes": entry.changes,
        "at": entry.at.isoformat(),
    }


def entry_from_event(data: dict[str, Any]) -> AuditEntry:
    """An unsaved AuditEntry rebuilt from its published JSON form."""
    return AuditEntry(
        id=UUID(data["id"]),
        tenant_id=UUID(data["tenant_id"]) if data["tenant_id"] else None,
        actor=data["actor"],
        actor_role=data["actor_role"],
        action=data["action"],
        target_type=data["target_type"],
        target_id=data["target_id"],
        changes=data["changes"],
        at=datetime.fromisoformat(data["at"]),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return value
