"""Price rates, and costs computed from usage rollups times the rate in force each day.

A day's cost of a group is the cost reported with its events plus its unpriced units at the
rate of that day (graduated tiers count units from the start of the calendar month, per
tenant and rate). Money is Decimal throughout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple
from uuid import UUID

from tortoise.exceptions import IntegrityError

from tollway.audit.service import AuditService
from tollway.auth.principal import SUPER_ADMIN_ONLY, Principal
from tollway.costs.catalog import OWN_API, ServiceCatalog, check_currency
from tollway.costs.pricing import Rate, Tier, check_tiers, rate_for
from tollway.errors import BadUserInput, Conflict
from tollway.metering.analytics import AnalyticsService, UsageBucket, UsageQuery
from tollway.metering.dimensions import Dimension
from tollway.models import ApiKey, Plan, PriceRate
from tollway.sql import Granularity

MAX_PRICE = Decimal(10) ** 9


class CostDimension(StrEnum):
    """How costs are grouped."""

    SERVICE = "SERVICE"
    TENANT = "TENANT"
    API_KEY = "API_KEY"
    ROUTE = "ROUTE"
    DAY = "DAY"


_USAGE_DIM = {
    CostDimension.TENANT: Dimension.TENANT,
    CostDimension.API_KEY: Dimension.API_KEY,
    CostDimension.ROUTE: Dimension.ROUTE,
}


@dataclass(frozen=True, slots=True)
class NewRate:
    """Fields of `createPriceRate`."""

    service: str
    unit_price: Decimal
    currency: str
    effective_from: date
    route: str | None = None
    plan: str | None = None
    tiers: tuple[Tier, ...] = ()


@dataclass(slots=True)
class CostLine:
    """Cost of one group, in one currency."""

    group: dict[CostDimension, Any]
    currency: str
    amount: Decimal
    units: int
    unpriced_units: int


def to_rate(row: PriceRate) -> Rate:
    """The pure form of a stored rate."""
    return Rate(
        id=str(row.id),
        service=row.service,
        route=row.route,
        plan=row.plan,
        unit_price=Decimal(str(row.unit_price)),
        currency=row.currency,
        tiers=tuple(Tier(t["up_to"], Decimal(t["unit_price"])) for t in row.tiers),
        effective_from=row.effective_from,
    )


def _month_start(day: date) -> date:
    return day.replace(day=1)


def midnight(day: date) -> datetime:
    """The UTC start of `day`."""
    return datetime.combine(day, datetime.min.time(), UTC)


class CostService:
    """Rates and costs."""

    def __init__(
        self, audit: AuditService, catalog: ServiceCatalog, *, analytics: AnalyticsService
    ) -> None:
        self.audit = audit
        self.catalog = catalog
        self.analytics = analytics

    async def create_rate(self, principal: Principal, new: NewRate) -> PriceRate:
        """A new rate version (SUPER_ADMIN); it applies from `effective_from` on."""
        principal.require_role(SUPER_ADMIN_ONLY, "set prices")
        service = await self.catalog.get(new.service)
        currency = check_currency(new.currency)
        if currency != service.currency:
            raise BadUserInput(
                f"currency: {service.name} is priced in {service.currency}, not {currency}"
            )
        if not (new.unit_price.is_finite() and 0 <= new.unit_price < MAX_PRICE):
            raise BadUserInput("unitPrice must be between 0 and 10^9")
        tiers = check_tiers(new.tiers)
        same = PriceRate.filter(service=service.name, effective_from=new.effective_from)
        same = same.filter(route=new.route) if new.route else same.filter(route__isnull=True)
        same = same.filter(plan=new.plan) if new.plan else same.filter(plan__isnull=True)
        if await same.exists():
            raise Conflict("a rate for this service, route and plan starts that day")
        try:
            row = await PriceRate.create(
                service=service.name,
                route=new.route,
                plan=new.plan,
                unit_price=new.unit_price,
                currency=currency,
                tiers=[{"up_to": t.up_to, "unit_price": str(t.unit_price)} for t in tiers],
                effective_from=new.effective_from,
                created_by=principal.subject,
            )
        except IntegrityError:
            raise Conflict("a rate for this service, route and plan starts that day") from None
        entry = await self.audit.record(
            principal,
            "price_rate.created",
            target_type="price_rate",
            target_id=row.id,
            tenant_id=None,
            changes={
                "service": service.name,
                "unit_price": str(new.unit_price),
                "effective_from": new.effective_from.isoformat(),
            },
        )
        self.audit.announce(entry)
        return row

    async def rates(self, service: str | None = None) -> list[PriceRate]:
        """Every rate version (of one service), newest first."""
        query = PriceRate.all() if service is None else PriceRate.filter(service=service)
        return await query.order_by("service", "-effective_from")

    async def costs(
        self,
        principal: Principal,
        start: datetime,
        *,
        end: datetime,
        group_by: Sequence[CostDimension],
        tenant_id: UUID | None = None,
        service: str | None = None,
    ) -> list[CostLine]:
        """Costs over [start, end) grouped by `group_by` (and currency), exact: largest
        first, or by day in date order with every day present when grouped by day alone."""
        rates = [to_rate(r) for r in await PriceRate.all()]
        if service is not None and service != OWN_API:
            await self.catalog.get(service)
        currencies = {s.name: s.currency for s in await self.catalog.list()}
        first_day = midnight(start.date())
        filters: dict[Dimension, str | int] = {}
        if service is not None:
            filters[Dimension.SERVICE] = "" if service == OWN_API else service
        # Read from the month's start: graduated tiers count the month's earlier units.
        buckets = await self.analytics.series(
            principal,
            UsageQuery(
                min(midnight(_month_start(start.date())), start),
                end,
                tenant_id=tenant_id,
                filters=filters,
            ),
            granularity=Granularity.DAY,
            group_by=_dimensions_to_read(rates, group_by),
            latency=False,
        )
        keys = {str(b.group[Dimension.API_KEY]) for b in buckets if b.group.get(Dimension.API_KEY)}
        plans = await self._plans_of_keys(keys) if any(r.plan for r in rates) else {}
        pricer = _DayPricer(rates, plans, currencies)
        lines: dict[tuple[Any, ...], CostLine] = {}
        for bucket in sorted(buckets, key=lambda b: (b.at, repr(b.group))):
            priced = pricer.price(bucket)
            if priced.day < first_day.date():
                continue  # counted only for the month's tiers
            line = _line_of(lines, group_by, priced.values, priced.currency)
            line.amount += priced.amount
            line.units += bucket.measures.units
            line.unpriced_units += priced.unpriced_units
        if list(group_by) == [CostDimension.DAY]:
            return _every_day(list(lines.values()), first_day.date(), end)
        return sorted(lines.values(), key=lambda c: (-c.amount, repr(c.group)))

    async def _plans_of_keys(self, key_ids: set[str]) -> dict[str, str]:
        rows = await ApiKey.filter(id__in=[UUID(k) for k in key_ids]).values_list("id", "plan_id")
        plan_ids = {p for _, p in rows if p}
        names = dict(await Plan.filter(id__in=plan_ids).values_list("id", "name"))
        return {str(k): names[p] for k, p in rows if p in names}


class _PricedBucket(NamedTuple):
    day: date
    values: dict[CostDimension, Any]
    currency: str
    amount: Decimal
    unpriced_units: int
    """Units no rate priced (and no event reported a cost for)."""


class _DayPricer:
    """Prices day buckets in date order, tallying each tenant's units per rate and month
    so that graduated tiers continue where the month's earlier days left them."""

    def __init__(
        self, rates: Sequence[Rate], plans: dict[str, str], currencies: dict[str, str]
    ) -> None:
        self.rates = rates
        self.plans = plans
        self.currencies = currencies
        self.month_units: dict[tuple[Any, ...], int] = defaultdict(int)

    def price(self, bucket: UsageBucket) -> _PricedBucket:
        assert bucket.at is not None
        day = bucket.at.date()
        name = str(bucket.group.get(Dimension.SERVICE) or OWN_API)
        tenant = bucket.group.get(Dimension.TENANT)
        route = bucket.group.get(Dimension.ROUTE)
        key = bucket.group.get(Dimension.API_KEY)
        plan = self.plans.get(str(key)) if key else None
        measures = bucket.measures
        rate = rate_for(
            self.rates, name, route=None if route is None else str(route), plan=plan, day=day
        )
        amount = measures.reported_cost
        if rate is not None:
            tally = (tenant, rate.id, _month_start(day))
            amount += rate.charge(measures.unpriced_units, self.month_units[tally])
            self.month_units[tally] += measures.unpriced_units
        values = {
            CostDimension.SERVICE: name,
            CostDimension.TENANT: tenant,
            CostDimension.API_KEY: key,
            CostDimension.ROUTE: route,
            CostDimension.DAY: day,
        }
        currency = rate.currency if rate else self.currencies.get(name, "USD")
        unpriced = 0 if rate else measures.unpriced_units
        return _PricedBucket(day, values, currency, amount, unpriced)


def _every_day(lines: list[CostLine], first: date, end: datetime) -> list[CostLine]:
    """Day lines in date order, with a zero line for each day (and currency) without cost."""
    currencies = sorted({line.currency for line in lines}) or ["USD"]
    have = {(line.group[CostDimension.DAY], line.currency): line for line in lines}
    last = (end - timedelta(microseconds=1)).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [
        have.get((day, currency)) or CostLine({CostDimension.DAY: day}, currency, Decimal(0), 0, 0)
        for day in days
        for currency in currencies
    ]


def _dimensions_to_read(
    rates: Sequence[Rate], group_by: Sequence[CostDimension]
) -> list[Dimension]:
    """The rollup dimensions costs need: tenant and service always; the route when a rate
    or the grouping names one; the key when a rate is per plan or the grouping is per key."""
    dims = [Dimension.TENANT, Dimension.SERVICE]
    if any(r.route for r in rates) or CostDimension.ROUTE in group_by:
        dims.append(Dimension.ROUTE)
    if any(r.plan for r in rates) or CostDimension.API_KEY in group_by:
        dims.append(Dimension.API_KEY)
    return dims


def _line_of(
    lines: dict[tuple[Any, ...], CostLine],
    group_by: Sequence[CostDimension],
    values: dict[CostDimension, Any],
    currency: str,
) -> CostLine:
    """The line of `values`' group and currency, started at zero when new."""
    group = {d: values[d] for d in group_by}
    line_key = (*(repr(group[d]) for d in group_by), currency)
    return lines.setdefault(line_key, CostLine(group, currency, Decimal(0), 0, 0))
