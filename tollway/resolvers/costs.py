"""Metered services, price rates, costs, budgets, forecasts and recommendations."""

from __future__ import annotations

import strawberry

from tollway.costs.catalog import NewService
from tollway.schema.context import Info
from tollway.schema.permissions import IsAuthenticated
from tollway.schema.types.costs import CreateMeteredServiceInput, MeteredService


@strawberry.type
class CostQuery:
    """Reading services, rates, costs and budgets."""

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def metered_services(self, info: Info) -> list[MeteredService]:
        """Every metered service."""
        return [MeteredService.from_model(r) for r in await info.context.services.catalog.list()]


@strawberry.type
class CostMutation:
    """Defining services, rates and budgets."""

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def create_metered_service(
        self, info: Info, input: CreateMeteredServiceInput
    ) -> MeteredService:
        """Register a service (SUPER_ADMIN)."""
        ctx = info.context
        new = NewService(input.name, input.unit_type, input.currency, input.description)
        return MeteredService.from_model(await ctx.services.catalog.create(ctx.principal, new))
