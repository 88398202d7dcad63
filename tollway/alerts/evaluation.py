"""Threshold rules measured over their window, one value per group of the rule's scope.

Request rate (per second), error rate (% of responses with status >= 400), p95 latency (ms)
and rejections come from the same rollups and raw events as the analytics API; auth failures
from security events; quota use (%) per key; budget use (%) per budget; cost is the spend of
the current UTC day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple
from uuid import UUID

from tollway.alerts.lifecycle import Condition
from tollway.auth.principal import WORKER
from tollway.costs.budgets import BudgetService
from tollway.costs.service import CostDimension, CostService, midnight
from tollway.metering.analytics import AnalyticsService, UsageQuery
from tollway.metering.dimensions import Dimension
from tollway.metering.quota_use import quota_use
from tollway.models import (
    AlertMetric,
    AlertRule,
    ApiKey,
    Budget,
    Comparator,
    KeyStatus,
    RuleScope,
    SecurityEvent,
)
from tollway.sql import as_uuid

AUTH_REASONS = ("API_KEY_MISSING", "API_KEY_INVALID", "API_KEY_REVOKED", "API_KEY_EXPIRED")
_SCOPE_DIMENSION = {
    RuleScope.TENANT: Dimension.TENANT,
    RuleScope.KEY: Dimension.API_KEY,
    RuleScope.ROUTE: Dimension.ROUTE,
    RuleScope.SERVICE: Dimension.SERVICE,
}
_COST_DIMENSION = {
    RuleScope.TENANT: CostDimension.TENANT,
    RuleScope.KEY: CostDimension.API_KEY,
    RuleScope.ROUTE: CostDimension.ROUTE,
    RuleScope.SERVICE: CostDimension.SERVICE,
}
_UNITS = {
    AlertMetric.REQUEST_RATE: " req/s",
    AlertMetric.ERROR_RATE: "%",
    AlertMetric.P95_LATENCY: " ms",
    AlertMetric.QUOTA_USE: "%",
    AlertMetric.BUDGET_USE: "%",
}
_SYMBOL = {Comparator.GT: ">", Comparator.GTE: ">=", Comparator.LT: "<", Comparator.LTE: "<="}

Group = tuple[str, UUID | None, UUID | None]
"""(subject, tenant id, key id) of one measured value."""


def crosses(value: float, comparator: Comparator, *, threshold: float) -> bool:
    """True when `value` compared with `threshold` holds."""
    if comparator is Comparator.GT:
        return value > threshold
    if comparator is Comparator.GTE:
        return value >= threshold
    if comparator is Comparator.LT:
        return value < threshold
    return value <= threshold


FALLING = frozenset({
    AlertMetric.REQUEST_RATE, AlertMetric.REJECTIONS, AlertMetric.AUTH_FAILURES,
    AlertMetric.QUOTA_USE, AlertMetric.BUDGET_USE, AlertMetric.COST,
})  # fmt: skip
"""Metrics that only fall while nothing new is stored: counts over a sliding window, and
use or spend since a period's start."""
PERIODIC = frozenset({AlertMetric.QUOTA_USE, AlertMetric.BUDGET_USE, AlertMetric.COST})
"""Of those, the ones that fall only when a period ends."""


def settles(rule: AlertRule, values: dict[Group, float]) -> bool:
    """True when, with no new usage, security event or configuration, the rule's result can
    change only at a period's end: no group is measured (groups never appear without new
    data), or the metric only falls and is compared from above, and either nothing crosses
    or what crosses lasts until its period ends."""
    if not values:
        return True
    if rule.metric not in FALLING or rule.comparator not in (Comparator.GT, Comparator.GTE):
        return False
    if rule.metric in PERIODIC:
        return True
    return not any(crosses(v, rule.comparator, threshold=rule.threshold) for v in values.values())


class RuleResults(NamedTuple):
    """What an evaluation of the rules found."""

    conditions: list[Condition]
    settled: bool
    """Every rule `settles`."""


class RuleEvaluator:
    """Measures rules and reports the groups that cross their thresholds."""

    def __init__(
        self, analytics: AnalyticsService, costs: CostService, *, budgets: BudgetService
    ) -> None:
        self.analytics = analytics
        self.costs = costs
        self.budgets = budgets

    async def evaluate(self, rules: Iterable[AlertRule], now: datetime) -> RuleResults:
        """Conditions for every enabled rule's groups that cross the threshold now."""
        found: list[Condition] = []
        settled = True
        for rule in rules:
            if not rule.enabled:
                continue
            values = await self.measure(rule, now)
            settled = settled and settles(rule, values)
            for (subject, tenant, key), value in values.items():
                if crosses(value, rule.comparator, threshold=rule.threshold):
                    found.append(_condition(rule, subject, tenant, key, value))
        return RuleResults(found, settled)

    async def measure(self, rule: AlertRule, now: datetime) -> dict[Group, float]:
        """The rule's metric per group, over its window ending `now`."""
        metric = rule.metric
        if metric is AlertMetric.AUTH_FAILURES:
            return await self._auth_failures(rule, now)
        if metric is AlertMetric.QUOTA_USE:
            return await self._quota_use(rule, now)
        if metric is AlertMetric.BUDGET_USE:
            return await self._budget_use(rule, now)
        if metric is AlertMetric.COST:
            return await self._cost(rule, now)
        return await self._traffic(rule, now)

    async def _traffic(self, rule: AlertRule, now: datetime) -> dict[Group, float]:
        dimension = _SCOPE_DIMENSION.get(rule.scope)
        filters: dict[Dimension, str | int] = {}
        if dimension is not None and rule.target is not None:
            filters[dimension] = rule.target
        query = UsageQuery(
            now - timedelta(seconds=rule.window_seconds), now, tenant_id=rule.tenant_id,
            filters=filters,
        )  # fmt: skip
        group_by = [] if dimension is None else list(dict.fromkeys([Dimension.TENANT, dimension]))
        latency = rule.metric is AlertMetric.P95_LATENCY
        buckets = await self.analytics.buckets(
            WORKER, query, group_by=group_by, series=None, latency=latency
        )
        values: dict[Group, float] = {}
        for bucket in buckets:  # one bucket per group: the groups are the buckets' dimensions
            m = bucket.measures
            if m.requests < max(rule.min_requests, 1):
                continue
            tenant = as_uuid(bucket.group.get(Dimension.TENANT)) or rule.tenant_id
            value = None if dimension is None else bucket.group.get(dimension)
            key = as_uuid(value) if dimension is Dimension.API_KEY else None
            group = (_subject(rule.scope, value, tenant), tenant, key)
            if rule.metric is AlertMetric.REQUEST_RATE:
                values[group] = m.requests / rule.window_seconds
            elif rule.metric is AlertMetric.ERROR_RATE:
                values[group] = 100.0 * m.errors / m.requests
            elif rule.metric is AlertMetric.REJECTIONS:
                values[group] = float(m.rejected)
            else:
                p95 = m.sketch.quantiles((0.95,))[0]
                if p95 is not None:
                    values[group] = p95
        return values

    async def _auth_failures(self, rule: AlertRule, now: datetime) -> dict[Group, float]:
        query = SecurityEvent.filter(
            at__gte=now - timedelta(seconds=rule.window_seconds), at__lt=now,
            reason__in=AUTH_REASONS,
        )  # fmt: skip
        if rule.tenant_id is not None:
            query = query.filter(tenant_id=rule.tenant_id)
        if rule.scope is RuleScope.KEY and rule.target is not None:
            query = query.filter(key_id=UUID(rule.target))
        counts: dict[Group, float] = {}
        for tenant, key in await query.values_list("tenant_id", "key_id"):
            if rule.scope is RuleScope.TENANT:
                group: Group = (f"tenant:{tenant}", as_uuid(tenant), None)
            elif rule.scope is RuleScope.KEY:
                group = (f"key:{key}", as_uuid(tenant), as_uuid(key))
            else:
                group = ("all", rule.tenant_id, None)
            counts[group] = counts.get(group, 0.0) + 1
        return counts

    async def _quota_use(self, rule: AlertRule, now: datetime) -> dict[Group, float]:
        keys = ApiKey.filter(status=KeyStatus.ACTIVE).select_related("plan")
        if rule.tenant_id is not None:
            keys = keys.filter(tenant_id=rule.tenant_id)
        if rule.scope is RuleScope.KEY and rule.target is not None:
            keys = keys.filter(id=UUID(rule.target))
        values: dict[Group, float] = {}
        for use in await quota_use(
            self.analytics, WORKER, tenant=rule.tenant_id, keys=await keys, now=now
        ):
            tenant = use.key.tenant_id
            if rule.scope is RuleScope.KEY:
                group: Group = (f"key:{use.key.id}", tenant, use.key.id)
            elif rule.scope is RuleScope.TENANT:
                group = (f"tenant:{tenant}", tenant, None)
            else:
                group = ("all", rule.tenant_id, None)
            values[group] = max(values.get(group, 0.0), use.percent)
        return values

    async def _budget_use(self, rule: AlertRule, now: datetime) -> dict[Group, float]:
        budgets = Budget.all()
        if rule.tenant_id is not None:
            budgets = budgets.filter(tenant_id=rule.tenant_id)
        if rule.scope is RuleScope.SERVICE and rule.target is not None:
            budgets = budgets.filter(service=rule.target)
        values: dict[Group, float] = {}
        for budget in await budgets:
            status = await self.budgets.status(budget, now)
            values[(f"budget:{budget.id}", budget.tenant_id, None)] = status.percent_used
        return values

    async def _cost(self, rule: AlertRule, now: datetime) -> dict[Group, float]:
        dimension = _COST_DIMENSION.get(rule.scope)
        lines = await self.costs.costs(
            WORKER,
            midnight(now.date()),
            end=now,
            group_by=[dimension] if dimension else [],
            tenant_id=rule.tenant_id,
        )
        values: dict[Group, float] = {}
        for line in lines:
            value = line.group.get(dimension) if dimension else None
            if dimension is not None and rule.target is not None and str(value) != rule.target:
                continue
            tenant = as_uuid(value) if rule.scope is RuleScope.TENANT else rule.tenant_id
            subject = _subject(rule.scope, value, tenant)
            key = as_uuid(value) if rule.scope is RuleScope.KEY else None
            group = (f"{subject}:{line.currency}", tenant, key)
            values[group] = float(line.amount)  # one line per group and currency
        return values


def _subject(scope: RuleScope, value: object, tenant: UUID | None) -> str:
    """What one value is about; routes and services are named within their tenant."""
    if scope is RuleScope.GLOBAL:
        return "all"
    subject = f"{scope.value.lower()}:{value}"
    if scope in (RuleScope.ROUTE, RuleScope.SERVICE) and tenant is not None:
        return f"tenant:{tenant}/{subject}"
    return subject


def _condition(
    rule: AlertRule, subject: str, tenant: UUID | None, key: UUID | None, value: float
) -> Condition:
    unit = _UNITS.get(rule.metric, "")
    where = "" if subject == "all" else f" for {subject}"
    return Condition(
        source=f"rule:{rule.id}",
        kind=rule.metric.value,
        subject=subject,
        severity=rule.severity,
        message=f"{rule.name}: {rule.metric.value.lower().replace('_', ' ')}{where} is "
        f"{value:,.2f}{unit} ({_SYMBOL[rule.comparator]} {rule.threshold:g}{unit} over "
        f"{rule.window_seconds} s)",
        tenant_id=tenant,
        key_id=key,
        rule_id=rule.id,
        value=value,
        threshold=rule.threshold,
        cooldown_seconds=rule.cooldown_seconds,
    )
