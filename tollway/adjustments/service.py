"""Creating, ending and listing limit adjustments. Every change is audited and tells every
instance to reload its adjustment table at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from tollway.adjustments.rules import Adjustment
from tollway.audit.service import AuditService
from tollway.auth.principal import READ_ROLES, WRITE_ROLES, Principal
from tollway.errors import BadUserInput, Conflict, Forbidden, NotFound
from tollway.events import INVALIDATIONS_CHANNEL, EventBus
from tollway.keys.limits import WindowSpec, validate_windows, windows_from_json, windows_to_json
from tollway.keys.plans import PlanService
from tollway.models import AdjustmentKind, AdjustmentScope, ApiKey, LimitAdjustment, Tenant
from tollway.pagination import Page, paginate
from tollway.text import clean_text

MAX_DURATION = timedelta(days=366)
MAX_EXEMPTIONS = 1000
MAX_BOOST = 1000.0
MIN_THROTTLE = 0.001
LOADED_AT_MOST = 10_000
ADJUSTMENTS_CHANGED = {"adjustments": True}


class AdjustmentStatus(StrEnum):
    """Where an adjustment is in its life (derived from its times)."""

    SCHEDULED = "SCHEDULED"
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    ENDED = "ENDED"


def status_of(row: LimitAdjustment, now: datetime | None = None) -> AdjustmentStatus:
    """SCHEDULED before its start, ACTIVE until its end, then EXPIRED; ENDED if ended early."""
    moment = now or datetime.now(UTC)
    if row.ended_at is not None:
        return AdjustmentStatus.ENDED
    if moment < row.starts_at:
        return AdjustmentStatus.SCHEDULED
    if moment < row.ends_at:
        return AdjustmentStatus.ACTIVE
    return AdjustmentStatus.EXPIRED


@dataclass(slots=True)
class NewAdjustment:
    """Fields of `createLimitAdjustment`."""

    kind: AdjustmentKind
    scope: AdjustmentScope
    reason: str
    ends_at: datetime
    starts_at: datetime | None = None
    tenant_id: UUID | None = None
    key_id: UUID | None = None
    plan: str | None = None
    multiplier: float | None = None
    override: WindowSpec | None = None
    exempt_key_ids: list[UUID] = field(default_factory=list)
    exempt_plans: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AdjustmentFilter:
    """Filters of `limitAdjustments`."""

    tenant_id: UUID | None = None
    status: AdjustmentStatus | None = None
    kind: AdjustmentKind | None = None
    scope: AdjustmentScope | None = None
    key_id: UUID | None = None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def to_rule(row: LimitAdjustment) -> Adjustment:
    """The hot-path form of a stored adjustment."""
    override = windows_from_json([row.override_window]) if row.override_window else []
    return Adjustment(
        id=str(row.id),
        kind=row.kind,
        scope=row.scope,
        starts_ms=_ms(row.starts_at),
        ends_ms=_ms(row.ends_at),
        created_ms=_ms(row.created_at),
        tenant_id=None if row.tenant_id is None else str(row.tenant_id),
        key_id=None if row.key_id is None else str(row.key_id),
        plan=row.plan,
        multiplier=row.multiplier if row.multiplier is not None else 1.0,
        override=override[0] if override else None,
        exempt_key_ids=frozenset(row.exempt_key_ids),
        exempt_plans=frozenset(row.exempt_plans),
    )


async def load_adjustments() -> list[Adjustment]:
    """Every adjustment not yet over (active and scheduled), for an instance's table."""
    rows = (
        await LimitAdjustment.filter(ended_at__isnull=True, ends_at__gt=datetime.now(UTC))
        .order_by("starts_at")
        .limit(LOADED_AT_MOST)
    )
    return [to_rule(row) for row in rows]


def _check_multiplier(kind: AdjustmentKind, multiplier: float | None) -> float | None:
    if kind is AdjustmentKind.OVERRIDE:
        if multiplier is not None:
            raise BadUserInput("an OVERRIDE takes overrideLimit, not multiplier")
        return None
    if multiplier is None:
        raise BadUserInput(f"a {kind.value} needs a multiplier")
    if kind is AdjustmentKind.BOOST and not 1 < multiplier <= MAX_BOOST:
        raise BadUserInput(f"a BOOST multiplier must be above 1 and at most {MAX_BOOST:g}")
    if kind is AdjustmentKind.THROTTLE and not MIN_THROTTLE <= multiplier < 1:
        raise BadUserInput(f"a THROTTLE multiplier must be at least {MIN_THROTTLE} and below 1")
    return multiplier


def _check_times(starts_at: datetime | None, ends_at: datetime) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    start = now if starts_at is None else _utc(starts_at)
    end = _utc(ends_at)
    if end <= start:
        raise BadUserInput("endsAt must be after startsAt")
    if end <= now:
        raise BadUserInput("endsAt must be in the future")
    if end - max(start, now) > MAX_DURATION:
        raise BadUserInput(f"an adjustment may last at most {MAX_DURATION.days} days")
    return start, end


class AdjustmentService:
    """Adjustments of one tenant (ADMIN) or of any scope (SUPER_ADMIN)."""

    def __init__(
        self, audit: AuditService, plans: PlanService, *, bus: EventBus, max_page_size: int
    ) -> None:
        self._audit = audit
        self._plans = plans
        self._bus = bus
        self._max_page_size = max_page_size

    async def create(self, principal: Principal, new: NewAdjustment) -> LimitAdjustment:
        """Store an adjustment; every instance applies it from its start time."""
        principal.require_role(WRITE_ROLES, "adjust limits")
        fields: dict[str, Any] = {
            "kind": new.kind,
            "scope": new.scope,
            "reason": clean_text(new.reason, "reason", maximum=500),
            "multiplier": _check_multiplier(new.kind, new.multiplier),
            "override_window": await self._override(new),
            **await self._target(principal, new),
            **await self._exemptions(principal, new),
        }
        fields["starts_at"], fields["ends_at"] = _check_times(new.starts_at, new.ends_at)
        async with in_transaction():
            row = await LimitAdjustment.create(created_by=principal.subject, **fields)
            entry = await self._audit.record(
                principal,
                "limit_adjustment.create",
                target_type="limit_adjustment",
                target_id=row.id,
                tenant_id=row.tenant_id,
                changes=fields,
            )
        self._audit.announce(entry)
        await self._bus.publish(INVALIDATIONS_CHANNEL, ADJUSTMENTS_CHANGED)
        return row

    async def _override(self, new: NewAdjustment) -> dict[str, Any] | None:
        if new.kind is not AdjustmentKind.OVERRIDE:
            if new.override is not None:
                raise BadUserInput("overrideLimit applies to OVERRIDE adjustments only")
            return None
        if new.scope is not AdjustmentScope.KEY:
            raise BadUserInput("an OVERRIDE applies to one key: use scope KEY")
        if new.override is None:
            raise BadUserInput("an OVERRIDE needs overrideLimit")
        return windows_to_json(validate_windows([new.override], "overrideLimit"))[0]

    async def _target(self, principal: Principal, new: NewAdjustment) -> dict[str, Any]:
        scope = new.scope
        if scope is not AdjustmentScope.KEY and new.key_id is not None:
            raise BadUserInput("apiKeyId applies to scope KEY only")
        if scope is not AdjustmentScope.PLAN and new.plan is not None:
            raise BadUserInput("plan applies to scope PLAN only")
        if scope is AdjustmentScope.KEY:
            if new.key_id is None:
                raise BadUserInput("scope KEY needs apiKeyId")
            key = await ApiKey.get_or_none(id=new.key_id)
            if key is None or not principal.sees(key.tenant_id):
                raise NotFound(f"API key {new.key_id} not found")
            if new.tenant_id is not None and new.tenant_id != key.tenant_id:
                raise BadUserInput("apiKeyId belongs to another tenant than tenantId")
            return {"key_id": key.id, "tenant_id": key.tenant_id}
        if scope is AdjustmentScope.GLOBAL:
            if not principal.is_super_admin:
                raise Forbidden("GLOBAL adjustments are SUPER_ADMIN only; use scope TENANT")
            if new.tenant_id is not None:
                raise BadUserInput("a GLOBAL adjustment covers every tenant: omit tenantId")
            return {"tenant_id": None}
        tenant_id = principal.scope_tenant(new.tenant_id)
        if scope is AdjustmentScope.TENANT and tenant_id is None:
            raise BadUserInput("scope TENANT needs tenantId")
        if tenant_id is not None and not await Tenant.exists(id=tenant_id):
            raise NotFound(f"tenant {tenant_id} not found")
        if scope is AdjustmentScope.PLAN:
            if not new.plan:
                raise BadUserInput("scope PLAN needs plan")
            return {"plan": (await self._plans.by_name(new.plan)).name, "tenant_id": tenant_id}
        return {"tenant_id": tenant_id}

    async def _exemptions(self, principal: Principal, new: NewAdjustment) -> dict[str, Any]:
        if not (new.exempt_key_ids or new.exempt_plans):
            return {"exempt_key_ids": [], "exempt_plans": []}
        if new.kind is not AdjustmentKind.THROTTLE:
            raise BadUserInput("exemptions apply to THROTTLE adjustments only")
        if len(new.exempt_key_ids) + len(new.exempt_plans) > MAX_EXEMPTIONS:
            raise BadUserInput(f"at most {MAX_EXEMPTIONS} exemptions")
        keys = sorted({str(k) for k in new.exempt_key_ids})
        found = ApiKey.filter(id__in=keys)
        if not principal.is_super_admin:
            found = found.filter(tenant_id=principal.tenant_id)
        if await found.count() != len(keys):
            raise BadUserInput("exemptApiKeyIds names a key that does not exist")
        plans = sorted({(await self._plans.by_name(p)).name for p in new.exempt_plans})
        return {"exempt_key_ids": keys, "exempt_plans": plans}

    async def end(
        self, principal: Principal, adjustment_id: UUID, *, reason: str | None
    ) -> LimitAdjustment:
        """Stop an adjustment now, on every instance."""
        principal.require_role(WRITE_ROLES, "adjust limits")
        note = clean_text(reason or "", "reason", maximum=500, required=False) or None
        async with in_transaction():
            row = await self._visible(principal).select_for_update().get_or_none(id=adjustment_id)
            if row is None:
                raise NotFound(f"limit adjustment {adjustment_id} not found")
            if row.tenant_id is None and not principal.is_super_admin:
                raise Forbidden("only SUPER_ADMIN may end an adjustment covering every tenant")
            status = status_of(row)
            if status in {AdjustmentStatus.ENDED, AdjustmentStatus.EXPIRED}:
                raise Conflict(f"the adjustment is already {status.value}")
            row.ended_at = datetime.now(UTC)
            row.ended_by = principal.subject
            await row.save(update_fields=["ended_at", "ended_by"])
            entry = await self._audit.record(
                principal,
                "limit_adjustment.end",
                target_type="limit_adjustment",
                target_id=row.id,
                tenant_id=row.tenant_id,
                changes={"reason": note, "was": status.value},
            )
        self._audit.announce(entry)
        await self._bus.publish(INVALIDATIONS_CHANNEL, ADJUSTMENTS_CHANGED)
        return row

    def _visible(self, principal: Principal) -> QuerySet[LimitAdjustment]:
        """A tenant sees its own adjustments and those covering every tenant."""
        if principal.is_super_admin:
            return LimitAdjustment.all()
        return LimitAdjustment.filter(Q(tenant_id=principal.tenant_id) | Q(tenant_id__isnull=True))

    async def get(self, principal: Principal, adjustment_id: UUID) -> LimitAdjustment:
        """One adjustment the principal may see."""
        principal.require_role(READ_ROLES, "read limit adjustments")
        row = await self._visible(principal).get_or_none(id=adjustment_id)
        if row is None:
            raise NotFound(f"limit adjustment {adjustment_id} not found")
        return row

    async def list(
        self, principal: Principal, flt: AdjustmentFilter, *, first: int | None, after: str | None
    ) -> Page[LimitAdjustment]:
        """Newest first."""
        principal.require_role(READ_ROLES, "read limit adjustments")
        query = self._visible(principal)
        if flt.tenant_id is not None:
            principal.require_tenant(flt.tenant_id)
            query = query.filter(Q(tenant_id=flt.tenant_id) | Q(tenant_id__isnull=True))
        if flt.kind is not None:
            query = query.filter(kind=flt.kind)
        if flt.scope is not None:
            query = query.filter(scope=flt.scope)
        if flt.key_id is not None:
            query = query.filter(key_id=flt.key_id)
        if flt.status is not None:
            query = _with_status(query, flt.status)
        return await paginate(
            query, first=first, after=after, sort_field="created_at", descending=True,
            max_page_size=self._max_page_size,
        )  # fmt: skip


def _with_status(
    query: QuerySet[LimitAdjustment], status: AdjustmentStatus
) -> QuerySet[LimitAdjustment]:
    now = datetime.now(UTC)
    if status is AdjustmentStatus.ENDED:
        return query.filter(ended_at__isnull=False)
    query = query.filter(ended_at__isnull=True)
    if status is AdjustmentStatus.SCHEDULED:
        return query.filter(starts_at__gt=now)
    if status is AdjustmentStatus.ACTIVE:
        return query.filter(starts_at__lte=now, ends_at__gt=now)
    return query.filter(ends_at__lte=now)
