"""Metered services, price rates, costs, budgets and forecasts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from tollway.costs.budgets import BudgetStatus, NewBudget
from tollway.costs.catalog import NewService
from tollway.costs.pricing import Tier
from tollway.costs.service import CostDimension, NewRate
from tollway.schema.context import Info
from tollway.schema.ids import parse_id, parse_optional_id
from tollway.schema.permissions import Allowed
from tollway.schema.types.costs import (
    Budget,
    BudgetEvent,
    BudgetStatusType,
    CostLine,
    CreateBudgetInput,
    CreateMeteredServiceInput,
    CreatePriceRateInput,
    MeteredService,
    PriceRate,
    Recommendation,
    SpendForecast,
)


def _status(status: BudgetStatus) -> BudgetStatusType:
    f = status.forecast
    return BudgetStatusType(
        period_start=status.period_start,
        period_end=status.period_end,
        spent=status.spent,
        percent_used=status.percent_used,
        forecast=SpendForecast(
            status=f.status,
            spent_before_today=f.spent,
            projected=f.projected,
            lower=f.lower,
            upper=f.upper,
            history_days=f.history_days,
            slope_per_day=f.slope_per_day,
        ),
    )


@strawberry.type
class CostQuery:
    """Reading services, rates, costs and budgets."""

    @strawberry.field(permission_classes=[Allowed])
    async def metered_services(self, info: Info) -> list[MeteredService]:
        """Every metered service."""
        return [MeteredService.from_model(r) for r in await info.context.services.catalog.list()]

    @strawberry.field(permission_classes=[Allowed])
    async def price_rates(self, info: Info, service: str | None = None) -> list[PriceRate]:
        """Every rate version (of one service), newest first per service."""
        return [PriceRate.from_model(r) for r in await info.context.services.costs.rates(service)]

    @strawberry.field(permission_classes=[Allowed])
    async def costs(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        *,
        to: datetime,
        group_by: list[CostDimension],
        tenant_id: strawberry.ID | None = None,
        service: str | None = None,
    ) -> list[CostLine]:
        """Costs per whole UTC day in range, grouped (e.g. `[DAY, SERVICE]`), largest first."""
        ctx = info.context
        lines = await ctx.services.costs.costs(
            ctx.principal,
            from_,
            end=to,
            group_by=group_by,
            tenant_id=parse_optional_id(tenant_id, "tenantId"),
            service=service,
        )
        return [CostLine.from_line(line) for line in lines]

    @strawberry.field(permission_classes=[Allowed])
    async def budgets(self, info: Info, tenant_id: strawberry.ID | None = None) -> list[Budget]:
        """Budgets visible to the caller."""
        ctx = info.context
        rows = await ctx.services.budgets.visible(
            ctx.principal, parse_optional_id(tenant_id, "tenantId")
        )
        return [Budget.from_model(r) for r in rows]

    @strawberry.field(permission_classes=[Allowed])
    async def budget_status(self, info: Info, id: strawberry.ID) -> BudgetStatusType:
        """Spend in the current period and the forecast for its end."""
        ctx = info.context
        row = await ctx.services.budgets.get(ctx.principal, parse_id(id))
        return _status(await ctx.services.budgets.status(row))

    @strawberry.field(permission_classes=[Allowed])
    async def budget_events(self, info: Info, id: strawberry.ID) -> list[BudgetEvent]:
        """Thresholds crossed, newest first."""
        ctx = info.context
        rows = await ctx.services.budgets.events(ctx.principal, parse_id(id))
        return [
            BudgetEvent(
                id=strawberry.ID(str(r.id)),
                threshold=r.threshold,
                period_start=r.period_start,
                spend=r.spend,
                amount=r.amount,
                currency=r.currency,
                created_at=r.created_at,
            )
            for r in rows
        ]

    @strawberry.field(permission_classes=[Allowed])
    async def recommendations(
        self, info: Info, tenant_id: strawberry.ID | None = None
    ) -> list[Recommendation]:
        """What to do about cost, quota and risk, most urgent first, each with its evidence:
        keys near quota, routes failing while charged, top cost drivers and their growth,
        keys unused for 30 days, limits far above observed peaks."""
        ctx = info.context
        found = await ctx.services.recommendations.recommend(
            ctx.principal, parse_optional_id(tenant_id, "tenantId")
        )
        return [Recommendation.from_data(r) for r in found]


@strawberry.type
class CostMutation:
    """Defining services, rates and budgets."""

    @strawberry.mutation(permission_classes=[Allowed])
    async def create_metered_service(
        self, info: Info, input: CreateMeteredServiceInput
    ) -> MeteredService:
        """Register a service (SUPER_ADMIN)."""
        ctx = info.context
        new = NewService(input.name, input.unit_type, input.currency, input.description)
        return MeteredService.from_model(await ctx.services.catalog.create(ctx.principal, new))

    @strawberry.mutation(permission_classes=[Allowed])
    async def create_price_rate(self, info: Info, input: CreatePriceRateInput) -> PriceRate:
        """A new price version (SUPER_ADMIN)."""
        ctx = info.context
        new = NewRate(
            service=input.service, unit_price=input.unit_price, currency=input.currency,
            effective_from=input.effective_from, route=input.route, plan=input.plan,
            tiers=tuple(Tier(t.up_to, t.unit_price) for t in input.tiers),
        )  # fmt: skip
        return PriceRate.from_model(await ctx.services.costs.create_rate(ctx.principal, new))

    @strawberry.mutation(permission_classes=[Allowed])
    async def create_budget(self, info: Info, input: CreateBudgetInput) -> Budget:
        """A budget for a tenant, a service or everything (SUPER_ADMIN)."""
        ctx = info.context
        new = NewBudget(
            name=input.name, scope=input.scope, period=input.period, amount=input.amount,
            currency=input.currency, tenant_id=parse_optional_id(input.tenant_id, "tenantId"),
            service=input.service,
        )  # fmt: skip
        if input.thresholds is not None:
            new.thresholds = input.thresholds
        return Budget.from_model(await ctx.services.budgets.create(ctx.principal, new))

    @strawberry.mutation(permission_classes=[Allowed])
    async def delete_budget(self, info: Info, id: strawberry.ID) -> Budget:
        """Remove a budget."""
        ctx = info.context
        return Budget.from_model(await ctx.services.budgets.delete(ctx.principal, parse_id(id)))
