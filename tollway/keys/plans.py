"""Plans: named default windows and quotas, seeded and editable."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from tollway.audit.service import AuditService
from tollway.auth.principal import Principal, Role
from tollway.errors import BadUserInput, Conflict, Forbidden, NotFound
from tollway.events import INVALIDATIONS_CHANNEL, EventBus
from tollway.keys.limits import (
    QuotaSpec,
    WindowSpec,
    quota_to_json,
    validate_quota,
    validate_windows,
    windows_to_json,
)
from tollway.models import Plan
from tollway.ratelimit import Algorithm, QuotaPeriod

DEFAULT_PLANS: dict[str, tuple[str, list[WindowSpec], QuotaSpec | None]] = {
    "FREE": ("Evaluation tier", [WindowSpec(60, 60)], QuotaSpec(1_000, QuotaPeriod.DAY)),
    "STARTER": (
        "Small production use",
        [WindowSpec(300, 60)],
        QuotaSpec(100_000, QuotaPeriod.MONTH),
    ),
    "PROFESSIONAL": (
        "Production use",
        [WindowSpec(1_000, 60), WindowSpec(50, 1, Algorithm.TOKEN_BUCKET, 100)],
        QuotaSpec(1_000_000, QuotaPeriod.MONTH),
    ),
    "ENTERPRISE": (
        "High volume, no quota",
        [WindowSpec(10_000, 60), WindowSpec(500, 1, Algorithm.TOKEN_BUCKET, 1_000)],
        None,
    ),
}
DEFAULT_PLAN = "FREE"


async def ensure_default_plans() -> None:
    """Create the seeded plans that do not exist yet (never overwrites edits)."""
    for name, (description, windows, quota) in DEFAULT_PLANS.items():
        # IntegrityError: another instance seeded it at the same moment.
        with contextlib.suppress(IntegrityError):
            await Plan.get_or_create(
                name=name,
                defaults={
                    "description": description,
                    "rate_limits": windows_to_json(validate_windows(windows)),
                    "quota": quota_to_json(validate_quota(quota)),
                },
            )


class PlanService:
    """Reading plans (any admin) and editing them (SUPER_ADMIN)."""

    def __init__(self, audit: AuditService, bus: EventBus) -> None:
        self._audit = audit
        self._bus = bus

    async def list(self) -> list[Plan]:
        """Every plan, by name."""
        return await Plan.all().order_by("name")

    @staticmethod
    async def by_ids(ids: Iterable[UUID]) -> dict[UUID, Plan]:
        """Batch load for DataLoaders (plans are shared by every tenant)."""
        return {plan.id: plan for plan in await Plan.filter(id__in=list(ids))}

    async def by_name(self, name: str) -> Plan:
        """One plan, or BAD_USER_INPUT naming the known plans."""
        plan = await Plan.get_or_none(name=name.strip().upper())
        if plan is None:
            known = ", ".join(p.name for p in await self.list())
            raise BadUserInput(f"unknown plan {name!r}; known plans: {known}")
        return plan

    async def save(
        self,
        principal: Principal,
        name: str,
        *,
        description: str | None,
        windows: Sequence[WindowSpec],
        quota: QuotaSpec | None,
        create: bool,
    ) -> Plan:
        """Create or replace a plan's limits; keys on it pick the change up everywhere."""
        if principal.role is not Role.SUPER_ADMIN:
            raise Forbidden("only SUPER_ADMIN may edit plans")
        clean = name.strip().upper()
        if not clean or len(clean) > 60:
            raise BadUserInput("plan name must be 1 to 60 characters")
        fields: dict[str, Any] = {
            "rate_limits": windows_to_json(validate_windows(windows)),
            "quota": quota_to_json(validate_quota(quota)),
        }
        if description is not None:
            fields["description"] = description.strip()
        try:
            async with in_transaction():
                if create:
                    plan = await Plan.create(name=clean, **fields)
                else:
                    found = await Plan.get_or_none(name=clean)
                    if found is None:
                        raise NotFound(f"plan {clean} not found")
                    plan = found
                    plan.update_from_dict(fields)
                    await plan.save()
                entry = await self._audit.record(
                    principal,
                    "plan.create" if create else "plan.update",
                    target_type="plan",
                    target_id=plan.name,
                    tenant_id=None,
                    changes=fields,
                )
        except IntegrityError:
            raise Conflict(f"plan {clean} already exists") from None
        self._audit.announce(entry)
        await self._bus.publish(INVALIDATIONS_CHANNEL, {"all": True})
        return plan
