"""Security events (every denied credential, address, origin and scope) for people: a
filtered log, a summary, and a live stream."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tortoise.queryset import QuerySet

from tollway.auth.principal import READ_ROLES, Principal
from tollway.errors import BadUserInput
from tollway.events import SECURITY_CHANNEL, EventBus
from tollway.models import SecurityEvent
from tollway.pagination import Page, paginate
from tollway.sql import as_uuid

HIGH_RISK = 50
TOP = 10


@dataclass(frozen=True, slots=True)
class SecurityFilter:
    """Filters of `securityEvents`."""

    tenant_id: UUID | None = None
    key_id: UUID | None = None
    reason: str | None = None
    client_ip: str | None = None
    min_risk: int = 0
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class SecuritySummary:
    """Denials over a range: totals, by reason, the busiest addresses and keys."""

    total: int
    high_risk: int
    by_reason: list[tuple[str, int]]
    top_addresses: list[tuple[str, int]]
    top_key_prefixes: list[tuple[str, int]]


class SecurityService:
    """Reads security events within the principal's tenant (unattributed ones, such as
    unknown keys, are visible to SUPER_ADMIN only)."""

    def __init__(self, bus: EventBus, max_page_size: int) -> None:
        self.bus = bus
        self.max_page_size = max_page_size

    def _query(self, principal: Principal, flt: SecurityFilter) -> QuerySet[SecurityEvent]:
        principal.require_role(READ_ROLES, "read security events")
        if not 0 <= flt.min_risk <= 100:
            raise BadUserInput("minRisk must be between 0 and 100")
        if flt.since and flt.until and flt.since > flt.until:
            raise BadUserInput("since must not be after until")
        query = SecurityEvent.all()
        tenant = principal.scope_tenant(flt.tenant_id)
        if tenant is not None:
            query = query.filter(tenant_id=tenant)
        if flt.key_id is not None:
            query = query.filter(key_id=flt.key_id)
        if flt.reason:
            query = query.filter(reason=flt.reason)
        if flt.client_ip:
            query = query.filter(client_ip=flt.client_ip)
        if flt.min_risk:
            query = query.filter(risk_score__gte=flt.min_risk)
        if flt.since:
            query = query.filter(at__gte=flt.since)
        if flt.until:
            query = query.filter(at__lt=flt.until)
        return query

    async def list(
        self, principal: Principal, flt: SecurityFilter, *, first: int | None, after: str | None
    ) -> Page[SecurityEvent]:
        """Newest first."""
        return await paginate(
            self._query(principal, flt), first=first, after=after, sort_field="at",
            descending=True, max_page_size=self.max_page_size,
        )  # fmt: skip

    async def summary(self, principal: Principal, flt: SecurityFilter) -> SecuritySummary:
        """Counts over the filtered events."""
        rows = await self._query(principal, flt).values_list(
            "reason", "client_ip", "key_prefix", "risk_score"
        )
        reasons: Counter[str] = Counter()
        addresses: Counter[str] = Counter()
        prefixes: Counter[str] = Counter()
        high = 0
        for reason, address, prefix, risk in rows:
            reasons[str(reason)] += 1
            if address:
                addresses[str(address)] += 1
            if prefix:
                prefixes[str(prefix)] += 1
            high += int(risk) >= HIGH_RISK
        return SecuritySummary(
            total=len(rows), high_risk=high, by_reason=reasons.most_common(),
            top_addresses=addresses.most_common(TOP), top_key_prefixes=prefixes.most_common(TOP),
        )  # fmt: skip

    async def live(
        self, principal: Principal, tenant_id: UUID | None, *, min_risk: int
    ) -> AsyncIterator[SecurityEvent]:
        """Security events as they are stored, on any instance."""
        principal.require_role(READ_ROLES, "read security events")
        if not 0 <= min_risk <= 100:
            raise BadUserInput("minRisk must be between 0 and 100")
        scope = principal.scope_tenant(tenant_id)
        async for batch in self.bus.subscribe(SECURITY_CHANNEL):
            for data in batch.get("events", ()):
                if scope is not None and data.get("tenant_id") != str(scope):
                    continue
                if int(data.get("risk_score") or 0) < min_risk:
                    continue
                yield SecurityEvent(
                    id=UUID(data["id"]), at=datetime.fromisoformat(data["at"]),
                    reason=data["reason"], risk_score=data["risk_score"],
                    client_ip=data["client_ip"], tenant_id=as_uuid(data["tenant_id"]),
                    key_id=as_uuid(data["key_id"]), key_prefix=data["key_prefix"],
                    method=data["method"], path=data["path"], user_agent=data["user_agent"],
                )  # fmt: skip
