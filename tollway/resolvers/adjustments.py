"""Limit adjustment queries and mutations."""

from __future__ import annotations

import strawberry

from tollway.adjustments.service import AdjustmentFilter, AdjustmentStatus, NewAdjustment
from tollway.models import AdjustmentKind, AdjustmentScope
from tollway.schema.connections import Connection, to_connection
from tollway.schema.context import Info
from tollway.schema.ids import parse_id, parse_optional_id
from tollway.schema.permissions import Allowed
from tollway.schema.types.adjustments import CreateLimitAdjustmentInput, LimitAdjustment


@strawberry.type
class AdjustmentQuery:
    """Reading adjustments."""

    @strawberry.field(permission_classes=[Allowed])
    async def limit_adjustments(
        self,
        info: Info,
        tenant_id: strawberry.ID | None = None,
        *,
        status: AdjustmentStatus | None = None,
        kind: AdjustmentKind | None = None,
        scope: AdjustmentScope | None = None,
        api_key_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[LimitAdjustment]:
        """Newest first; a tenant also sees the adjustments covering every tenant."""
        ctx = info.context
        flt = AdjustmentFilter(
            parse_optional_id(tenant_id, "tenantId"), status, kind, scope,
            parse_optional_id(api_key_id, "apiKeyId"),
        )  # fmt: skip
        page = await ctx.services.adjustments.list(ctx.principal, flt, first=first, after=after)
        return to_connection(page, LimitAdjustment.from_model)

    @strawberry.field(permission_classes=[Allowed])
    async def limit_adjustment(self, info: Info, id: strawberry.ID) -> LimitAdjustment:
        """One adjustment."""
        ctx = info.context
        row = await ctx.services.adjustments.get(ctx.principal, parse_id(id))
        return LimitAdjustment.from_model(row)


@strawberry.type
class AdjustmentMutation:
    """Starting and ending adjustments."""

    @strawberry.mutation(permission_classes=[Allowed])
    async def create_limit_adjustment(
        self, info: Info, input: CreateLimitAdjustmentInput
    ) -> LimitAdjustment:
        """Applies on every instance within a second, from `startsAt` until `endsAt`."""
        ctx = info.context
        new = NewAdjustment(
            kind=input.kind,
            scope=input.scope,
            reason=input.reason,
            ends_at=input.ends_at,
            starts_at=input.starts_at,
            tenant_id=parse_optional_id(input.tenant_id, "tenantId"),
            key_id=parse_optional_id(input.api_key_id, "apiKeyId"),
            plan=input.plan,
            multiplier=input.multiplier,
            override=input.override_limit.to_spec() if input.override_limit else None,
            exempt_key_ids=[parse_id(k, "exemptApiKeyIds") for k in input.exempt_api_key_ids],
            exempt_plans=input.exempt_plans,
        )
        row = await ctx.services.adjustments.create(ctx.principal, new)
        return LimitAdjustment.from_model(row)

    @strawberry.mutation(permission_classes=[Allowed])
    async def end_limit_adjustment(
        self, info: Info, id: strawberry.ID, *, reason: str | None = None
    ) -> LimitAdjustment:
        """Stop an adjustment now, on every instance."""
        ctx = info.context
        row = await ctx.services.adjustments.end(ctx.principal, parse_id(id), reason=reason)
        return LimitAdjustment.from_model(row)
