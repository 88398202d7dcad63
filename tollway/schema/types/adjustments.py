"""Limit adjustment types."""

from __future__ import annotations

from datetime import datetime

import strawberry

from tollway.adjustments.service import AdjustmentStatus, status_of
from tollway.keys.limits import windows_from_json
from tollway.models import AdjustmentKind, AdjustmentScope
from tollway.models import LimitAdjustment as LimitAdjustmentModel
from tollway.schema.types.keys import RateLimitWindowInput, RateLimitWindowType

strawberry.enum(AdjustmentKind, name="LimitAdjustmentKind")
strawberry.enum(AdjustmentScope, name="LimitAdjustmentScope")
strawberry.enum(AdjustmentStatus, name="LimitAdjustmentStatus")


@strawberry.input
class CreateLimitAdjustmentInput:
    """A BOOST (multiplier above 1), THROTTLE (below 1) or OVERRIDE (one key, absolute window)."""

    kind: AdjustmentKind
    scope: AdjustmentScope
    reason: str
    ends_at: datetime
    starts_at: datetime | None = None
    tenant_id: strawberry.ID | None = None
    api_key_id: strawberry.ID | None = None
    plan: str | None = None
    multiplier: float | None = None
    override_limit: RateLimitWindowInput | None = None
    exempt_api_key_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    exempt_plans: list[str] = strawberry.field(default_factory=list)


@strawberry.type
class LimitAdjustment:
    """A time-bounded change to rate limits; it expires by itself."""

    id: strawberry.ID
    kind: AdjustmentKind
    scope: AdjustmentScope
    status: AdjustmentStatus
    tenant_id: strawberry.ID | None
    api_key_id: strawberry.ID | None
    plan: str | None
    multiplier: float | None
    override_limit: RateLimitWindowType | None
    exempt_api_key_ids: list[strawberry.ID]
    exempt_plans: list[str]
    starts_at: datetime
    ends_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    reason: str
    created_by: str
    created_at: datetime

    @classmethod
    def from_model(cls, a: LimitAdjustmentModel) -> LimitAdjustment:
        """Convert."""
        override = windows_from_json([a.override_window]) if a.override_window else []
        return cls(
            id=strawberry.ID(str(a.id)),
            kind=a.kind,
            scope=a.scope,
            status=status_of(a),
            tenant_id=None if a.tenant_id is None else strawberry.ID(str(a.tenant_id)),
            api_key_id=None if a.key_id is None else strawberry.ID(str(a.key_id)),
            plan=a.plan,
            multiplier=a.multiplier,
            override_limit=RateLimitWindowType.from_window(override[0]) if override else None,
            exempt_api_key_ids=[strawberry.ID(k) for k in a.exempt_key_ids],
            exempt_plans=list(a.exempt_plans),
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            ended_at=a.ended_at,
            ended_by=a.ended_by,
            reason=a.reason,
            created_by=a.created_by,
            created_at=a.created_at,
        )
