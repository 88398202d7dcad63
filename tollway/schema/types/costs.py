"""Metered service, price rate, cost, budget and recommendation types."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry

from tollway.costs.forecast import ForecastStatus
from tollway.costs.pricing import at_currency_scale, plain
from tollway.costs.recommendation_types import Recommendation as RecommendationData
from tollway.costs.recommendation_types import RecommendationKind, RecommendationSeverity
from tollway.costs.service import CostDimension
from tollway.costs.service import CostLine as CostLineData
from tollway.models import Budget as BudgetModel
from tollway.models import BudgetPeriod, BudgetScope
from tollway.models import MeteredService as MeteredServiceModel
from tollway.models import PriceRate as PriceRateModel
from tollway.schema.scalars import BigInt
from tollway.schema.types.named import NamesTenantAndKey

strawberry.enum(CostDimension)
strawberry.enum(ForecastStatus)
strawberry.enum(BudgetScope)
strawberry.enum(BudgetPeriod)
strawberry.enum(RecommendationKind)
strawberry.enum(RecommendationSeverity)


@strawberry.type
class MeteredService:
    """A service whose usage is counted and priced (`api` is the own API)."""

    id: strawberry.ID
    name: str
    description: str
    unit_type: str
    currency: str
    created_at: datetime

    @classmethod
    def from_model(cls, row: MeteredServiceModel) -> MeteredService:
        """From the stored row."""
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            description=row.description,
            unit_type=row.unit_type,
            currency=row.currency,
            created_at=row.created_at,
        )


@strawberry.input
class CreateMeteredServiceInput:
    """A third-party (or internal) service to meter, e.g. `openai` in `tokens`."""

    name: str
    unit_type: str = "requests"
    currency: str = "USD"
    description: str = ""


@strawberry.input
class PriceTierInput:
    """Units up to `upTo` this month (null: the rest) cost `unitPrice` each."""

    up_to: int | None
    unit_price: Decimal


@strawberry.input
class CreatePriceRateInput:
    """A new price version for a service, from `effectiveFrom` (a UTC day) on."""

    service: str
    unit_price: Decimal
    currency: str
    effective_from: date
    route: str | None = None
    plan: str | None = None
    tiers: list[PriceTierInput] = strawberry.field(default_factory=list)


@strawberry.type
class PriceTier:
    """A graduated tier."""

    up_to: int | None
    unit_price: Decimal


@strawberry.type
class PriceRate:
    """One version of a price."""

    id: strawberry.ID
    service: str
    route: str | None
    plan: str | None
    unit_price: Decimal
    currency: str
    tiers: list[PriceTier]
    effective_from: date
    created_at: datetime

    @classmethod
    def from_model(cls, row: PriceRateModel) -> PriceRate:
        """From the stored row."""
        return cls(
            id=strawberry.ID(str(row.id)),
            service=row.service,
            route=row.route,
            plan=row.plan,
            unit_price=Decimal(str(row.unit_price)),
            currency=row.currency,
            tiers=[
                PriceTier(up_to=t["up_to"], unit_price=Decimal(t["unit_price"])) for t in row.tiers
            ],
            effective_from=row.effective_from,
            created_at=row.created_at,
        )


@strawberry.type
class CostLine(NamesTenantAndKey):
    """Cost of one group in one currency (`unpricedUnits` had no rate)."""

    service: str | None
    tenant_id: strawberry.ID | None
    api_key_id: strawberry.ID | None
    route: str | None
    day: date | None
    currency: str
    amount: Decimal = strawberry.field(
        description="Rounded half up to the currency's minor unit (two decimals for most)."
    )
    exact_amount: Decimal = strawberry.field(
        description="Exact, with as many decimals as the prices need (sums add up exactly)."
    )
    units: BigInt
    unpriced_units: BigInt

    @classmethod
    def from_line(cls, line: CostLineData) -> CostLine:
        """From the service's line."""
        g = line.group
        tenant, key = g.get(CostDimension.TENANT), g.get(CostDimension.API_KEY)
        return cls(
            service=g.get(CostDimension.SERVICE),
            tenant_id=strawberry.ID(str(tenant)) if tenant else None,
            api_key_id=strawberry.ID(str(key)) if key else None,
            route=g.get(CostDimension.ROUTE),
            day=g.get(CostDimension.DAY),
            currency=line.currency,
            amount=at_currency_scale(line.amount, line.currency),
            exact_amount=plain(line.amount),
            units=BigInt(line.units),
            unpriced_units=BigInt(line.unpriced_units),
        )


@strawberry.input
class CreateBudgetInput:
    """A spending limit; thresholds in percent (default 50, 80, 100)."""

    name: str
    scope: BudgetScope
    period: BudgetPeriod
    amount: Decimal
    currency: str
    tenant_id: strawberry.ID | None = None
    service: str | None = None
    thresholds: list[int] | None = None


@strawberry.type
class SpendForecast:
    """End-of-period spend: a linear trend with a 95% prediction interval."""

    status: ForecastStatus
    spent_before_today: Decimal
    projected: Decimal | None
    lower: Decimal | None
    upper: Decimal | None
    history_days: int
    slope_per_day: Decimal | None


@strawberry.type
class BudgetEvent:
    """A threshold crossed (once per period)."""

    id: strawberry.ID
    threshold: int
    period_start: datetime
    spend: Decimal
    amount: Decimal
    currency: str
    created_at: datetime


@strawberry.type
class Budget:
    """A budget and where it stands in its current period."""

    id: strawberry.ID
    name: str
    scope: BudgetScope
    period: BudgetPeriod
    tenant_id: strawberry.ID | None
    service: str | None
    amount: Decimal
    currency: str
    thresholds: list[int]
    created_at: datetime

    @classmethod
    def from_model(cls, row: BudgetModel) -> Budget:
        """From the stored row."""
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            scope=row.scope,
            period=row.period,
            tenant_id=strawberry.ID(str(row.tenant_id)) if row.tenant_id else None,
            service=row.service,
            amount=Decimal(str(row.amount)),
            currency=row.currency,
            thresholds=list(row.thresholds),
            created_at=row.created_at,
        )


@strawberry.type
class BudgetStatusType:
    """Spend in the current period, percent of the budget, and the forecast."""

    period_start: datetime
    period_end: datetime
    spent: Decimal
    percent_used: float
    forecast: SpendForecast


@strawberry.type
class EvidenceItem:
    """One fact behind a recommendation."""

    name: str
    value: str


@strawberry.type
class Recommendation:
    """Something worth doing about cost, quota or risk, with the evidence for it."""

    kind: RecommendationKind
    severity: RecommendationSeverity
    title: str
    action: str
    evidence: list[EvidenceItem]
    tenant_id: strawberry.ID | None
    key_id: strawberry.ID | None
    route: str | None
    service: str | None
    amount: Decimal | None
    currency: str | None

    @classmethod
    def from_data(cls, r: RecommendationData) -> Recommendation:
        """From the computed recommendation."""
        return cls(
            kind=r.kind,
            severity=r.severity,
            title=r.title,
            action=r.action,
            evidence=[EvidenceItem(name=e.name, value=e.value) for e in r.evidence],
            tenant_id=None if r.tenant_id is None else strawberry.ID(str(r.tenant_id)),
            key_id=None if r.key_id is None else strawberry.ID(str(r.key_id)),
            route=r.route,
            service=r.service,
            amount=r.amount,
            currency=r.currency,
        )
