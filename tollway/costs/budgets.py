"""Budgets: spending limits per scope and calendar period, threshold events raised once per
period, and an end-of-period forecast."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from tollway.audit.service import AuditService
from tollway.auth.principal import (
    READ_ROLES,
    SUPER_ADMIN_ONLY,
    WORKER,
    WRITE_ROLES,
    Principal,
)
from tollway.costs.catalog import ServiceCatalog, check_currency
from tollway.costs.forecast import LOOKBACK_DAYS, Forecast, forecast
from tollway.costs.service import CostDimension, CostService, midnight
from tollway.errors import BadUserInput, NotFound
from tollway.models import Budget, BudgetEvent, BudgetPeriod, BudgetScope
from tollway.text import clean_text
from tollway.webhooks.outbox import WebhookOutbox, iso

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLDS = (50, 80, 100)
MAX_AMOUNT = Decimal(10) ** 12


@dataclass(slots=True)
class NewBudget:
    """Fields of `createBudget`."""

    name: str
    scope: BudgetScope
    period: BudgetPeriod
    amount: Decimal
    currency: str
    tenant_id: UUID | None = None
    service: str | None = None
    thresholds: list[int] = field(default_factory=lambda: list(DEFAULT_THRESHOLDS))


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """Where a budget stands in its current period."""

    period_start: datetime
    period_end: datetime
    spent: Decimal
    percent_used: float
    forecast: Forecast


def period_bounds(period: BudgetPeriod, now: datetime) -> tuple[datetime, datetime]:
    """The calendar period (UTC) holding `now`: [start, end)."""
    today = now.astimezone(UTC).date()
    if period is BudgetPeriod.DAY:
        start = today
        end = today + timedelta(days=1)
    elif period is BudgetPeriod.WEEK:
        start = today - timedelta(days=today.weekday())
        end = start + timedelta(days=7)
    else:
        start = today.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    return midnight(start), midnight(end)


class BudgetService:
    """Budgets, their status and the evaluation that records threshold crossings."""

    def __init__(
        self,
        audit: AuditService,
        catalog: ServiceCatalog,
        *,
        costs: CostService,
        outbox: WebhookOutbox,
    ) -> None:
        self.audit = audit
        self.outbox = outbox
        self.catalog = catalog
        self.costs = costs

    async def create(self, principal: Principal, new: NewBudget) -> Budget:
        """A budget; GLOBAL ones (every tenant) are SUPER_ADMIN's."""
        principal.require_role(WRITE_ROLES, "create budgets")
        name = clean_text(new.name, "name", maximum=200)
        currency = check_currency(new.currency)
        if not (new.amount.is_finite() and 0 < new.amount < MAX_AMOUNT):
            raise BadUserInput("amount must be above 0 and below 10^12")
        thresholds = sorted(set(new.thresholds))
        if not thresholds or any(not 1 <= t <= 1000 for t in thresholds) or len(thresholds) > 10:
            raise BadUserInput("thresholds: 1 to 10 percentages between 1 and 1000")
        tenant_id = new.tenant_id
        if new.scope is BudgetScope.GLOBAL:
            principal.require_role(SUPER_ADMIN_ONLY, "create global budgets")
            tenant_id = None
        elif new.scope is BudgetScope.TENANT:
            tenant_id = principal.scope_tenant(tenant_id)
            if tenant_id is None:
                raise BadUserInput("tenantId is required for a TENANT budget")
        else:
            tenant_id = principal.scope_tenant(tenant_id)
        service = None
        if new.scope is BudgetScope.SERVICE:
            if not new.service:
                raise BadUserInput("service is required for a SERVICE budget")
            found = await self.catalog.get(new.service)
            if found.currency != currency:
                raise BadUserInput(
                    f"currency: {found.name} is priced in {found.currency}, not {currency}"
                )
            service = found.name
        row = await Budget.create(
            name=name, scope=new.scope, tenant_id=tenant_id, service=service, period=new.period,
            amount=new.amount, currency=currency, thresholds=thresholds,
        )  # fmt: skip
        entry = await self.audit.record(
            principal,
            "budget.created",
            target_type="budget",
            target_id=row.id,
            tenant_id=tenant_id,
            changes={"amount": str(new.amount), "currency": currency, "period": new.period.value},
        )
        self.audit.announce(entry)
        return row

    async def delete(self, principal: Principal, budget_id: UUID) -> Budget:
        """Remove a budget (its events stay for the record)."""
        principal.require_role(WRITE_ROLES, "delete budgets")
        row = await self.get(principal, budget_id)
        await row.delete()
        entry = await self.audit.record(
            principal,
            "budget.deleted",
            target_type="budget",
            target_id=row.id,
            tenant_id=row.tenant_id,
            changes={},
        )
        self.audit.announce(entry)
        return row

    async def get(self, principal: Principal, budget_id: UUID) -> Budget:
        """One visible budget."""
        row = await Budget.get_or_none(id=budget_id)
        if row is None or not principal.sees(row.tenant_id):
            raise NotFound("no such budget")
        return row

    async def visible(self, principal: Principal, tenant_id: UUID | None) -> list[Budget]:
        """Budgets of a tenant (and global ones for SUPER_ADMIN)."""
        principal.require_role(READ_ROLES, "read budgets")
        tenant = principal.scope_tenant(tenant_id)
        query = Budget.all() if tenant is None else Budget.filter(tenant_id=tenant)
        return await query.order_by("name")

    async def events(self, principal: Principal, budget_id: UUID) -> list[BudgetEvent]:
        """Threshold crossings of a budget, newest first."""
        row = await self.get(principal, budget_id)
        return await BudgetEvent.filter(budget_id=row.id).order_by("-created_at")

    async def status(self, row: Budget, now: datetime | None = None) -> BudgetStatus:
        """Spend so far this period, and the forecast for its end."""
        moment = now or datetime.now(UTC)
        start, end = period_bounds(row.period, moment)
        history_start = min(start, midnight(moment.date() - timedelta(days=LOOKBACK_DAYS)))
        lines = await self.costs.costs(
            WORKER, history_start, end=midnight(moment.date() + timedelta(days=1)),
            group_by=[CostDimension.DAY], tenant_id=row.tenant_id, service=row.service,
        )  # fmt: skip
        daily = {
            line.group[CostDimension.DAY]: line.amount
            for line in lines
            if line.currency == row.currency
        }
        spent = sum((a for d, a in daily.items() if start.date() <= d), Decimal(0))
        amount = Decimal(str(row.amount))
        elapsed = (moment - midnight(moment.date())).total_seconds() / 86400
        outlook = forecast(
            daily, moment.date(), period_start=start.date(), period_end=end.date(), elapsed=elapsed
        )
        percent = float(spent / amount * 100) if amount else 0.0
        return BudgetStatus(start, end, spent, round(percent, 4), outlook)

    async def evaluate(self, now: datetime | None = None) -> int:
        """Record every threshold crossed this period, once (the worker's job; several
        workers may run it together). Returns how many events were new."""
        created = 0
        for row in await Budget.all():
            status = await self.status(row, now)
            for threshold in row.thresholds:
                if status.percent_used < threshold:
                    continue
                try:
                    async with in_transaction():
                        event = await BudgetEvent.create(
                            budget_id=row.id, tenant_id=row.tenant_id,
                            period_start=status.period_start, threshold=threshold,
                            spend=status.spent, amount=row.amount, currency=row.currency,
                        )  # fmt: skip
                        await self.outbox.emit(
                            row.tenant_id, "budget.threshold_crossed",
                            data=_webhook_data(row, event, status.percent_used), now=now,
                        )  # fmt: skip
                except IntegrityError:
                    continue  # recorded already, by this worker or another
                created += 1
        return created


def _webhook_data(row: Budget, event: BudgetEvent, percent_used: float) -> dict[str, Any]:
    return {
        "budgetId": str(row.id), "name": row.name, "threshold": event.threshold,
        "percentUsed": percent_used, "spend": str(event.spend), "amount": str(row.amount),
        "currency": row.currency, "periodStart": iso(event.period_start),
    }  # fmt: skip
