"""Recommendations computed from usage and cost data, each with the evidence behind it.

Five kinds, in the order a reader acts on them:

* a key at or near its quota (it will start failing its callers);
* a route whose upstream keeps failing while its calls are still charged;
* the top cost drivers (services and keys) and how fast they grow;
* active keys nobody used for 30 days (revoke them: less attack surface);
* rate limits far above anything the key ever sent (a stolen key could burn that much).

Every figure is read from the same rollups and raw events as the analytics API, so the
evidence shown can be checked with `usage`, `usageBreakdown` and `costs`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from tollway.auth.principal import READ_ROLES, Principal
from tollway.costs.recommendation_types import (
    KIND_ORDER,
    SEVERITY_ORDER,
    Evidence,
    Recommendation,
    RecommendationKind,
    RecommendationSeverity,
)
from tollway.costs.service import CostDimension, CostLine, CostService
from tollway.keys.limits import windows_from_json
from tollway.metering.aggregate import Measures
from tollway.metering.analytics import AnalyticsService, UsageQuery
from tollway.metering.dimensions import Dimension
from tollway.metering.quota_use import quota_use
from tollway.models import ApiKey, KeyStatus
from tollway.sql import Granularity, as_uuid, connection, dialect_of

LOOKBACK = timedelta(days=30)
"""Cost drivers, unused keys and peaks are judged over this much history."""
FAILURE_LOOKBACK = timedelta(days=7)
TOP_DRIVERS = 3
QUOTA_WARNING = 0.8
FAILURE_RATE = 0.10
FAILURE_MIN_REQUESTS = 100
HEADROOM = 10
"""A limit is "far above" the peak when the peak is at most 1/HEADROOM of it."""
MIN_KEY_AGE = timedelta(days=7)
"""Keys younger than this have too little history to call unused or over-provisioned."""
_PEAK_LEVELS = ((3600, Granularity.HOUR, "hour"), (86_400, Granularity.DAY, "day"))

Clock = Callable[[], datetime]


def _percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%"


def _growth(now: Decimal, before: Decimal) -> str:
    if before == 0:
        return "new (nothing in the previous period)"
    return f"{100 * (now - before) / before:+.1f}%"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RecommendationService:
    """Computes recommendations for the tenants a principal sees."""

    def __init__(
        self, analytics: AnalyticsService, costs: CostService, *, clock: Clock = _utcnow
    ) -> None:
        self.analytics = analytics
        self.costs = costs
        self.clock = clock

    async def recommend(
        self, principal: Principal, tenant_id: UUID | None = None
    ) -> list[Recommendation]:
        """Every recommendation, most urgent first."""
        principal.require_role(READ_ROLES, "read recommendations")
        tenant = principal.scope_tenant(tenant_id)
        now = self.clock()
        keys_query = ApiKey.filter(status=KeyStatus.ACTIVE).select_related("plan")
        if tenant is not None:
            keys_query = keys_query.filter(tenant_id=tenant)
        keys = await keys_query
        found = [
            *await self._near_quota(principal, tenant, keys, now),
            *await self._failing_routes(principal, tenant, now),
            *await self._cost_drivers(principal, tenant, now),
            *await self._unused_keys(principal, tenant, keys, now),
            *await self._limits_above_peak(tenant, keys, now),
        ]
        found.sort(key=lambda r: (SEVERITY_ORDER[r.severity], KIND_ORDER[r.kind]))
        return found

    async def _near_quota(
        self, principal: Principal, tenant: UUID | None, keys: list[ApiKey], now: datetime
    ) -> list[Recommendation]:
        """Keys whose admitted cost units this quota period reach QUOTA_WARNING of the quota.
        Requests Tollway denied consume no quota, so only events without an error code count."""
        found = []
        for use in await quota_use(self.analytics, principal, tenant=tenant, keys=keys, now=now):
            key, quota, units, start, end = use.key, use.quota, use.used, use.start, use.end
            share = units / quota.limit
            if share < QUOTA_WARNING:
                continue
            evidence = [
                Evidence("quota", f"{quota.limit:,} per {quota.period.value.lower()}"),
                Evidence("used", f"{units:,} ({_percent(units, quota.limit)})"),
                Evidence("period started", start.isoformat()),
            ]
            if end is not None:
                elapsed = (now - start) / (end - start)
                evidence.append(Evidence("period resets", end.isoformat()))
                if 0 < elapsed < 1:
                    projected = int(units / elapsed)
                    evidence.append(Evidence("projected at reset", f"{projected:,}"))
            exhausted = share >= 1
            found.append(
                Recommendation(
                    kind=RecommendationKind.KEY_NEAR_QUOTA,
                    severity=RecommendationSeverity.CRITICAL
                    if exhausted
                    else RecommendationSeverity.WARNING,
                    title=f"Key {key.name} used {_percent(units, quota.limit)} of its quota",
                    action="Raise the key's quota or move it to a larger plan before its "
                    "callers are refused with QUOTA_EXCEEDED.",
                    evidence=evidence,
                    tenant_id=key.tenant_id,
                    key_id=key.id,
                )
            )
        return found

    async def _failing_routes(
        self, principal: Principal, tenant: UUID | None, now: datetime
    ) -> list[Recommendation]:
        """Routes whose calls fail upstream (an error status Tollway did not cause) at
        FAILURE_RATE or more over the last week, with what those failed calls cost."""
        start = now - FAILURE_LOOKBACK
        rows = await self.analytics.buckets(
            principal,
            UsageQuery(start, now, tenant_id=tenant),
            group_by=[Dimension.TENANT, Dimension.SERVICE, Dimension.ROUTE],
            series=None,
            latency=False,
        )
        failing = {}
        for row in rows:
            m = row.measures
            if m.requests >= FAILURE_MIN_REQUESTS and _failed(m) / m.requests >= FAILURE_RATE:
                group = row.group
                name = str(group.get(Dimension.SERVICE) or "api")
                failing[(group.get(Dimension.TENANT), name, group.get(Dimension.ROUTE))] = m
        if not failing:
            return []
        costs = await self.costs.costs(
            principal,
            start,
            end=now,
            group_by=[CostDimension.TENANT, CostDimension.SERVICE, CostDimension.ROUTE],
            tenant_id=tenant,
        )
        cost_of = {
            (_text(c.group[CostDimension.TENANT]), c.group[CostDimension.SERVICE],
             c.group[CostDimension.ROUTE]): c
            for c in costs
        }  # fmt: skip
        return [
            _failing_route(
                tenant_value, name, route, m, cost_of.get((_text(tenant_value), name, route))
            )
            for (tenant_value, name, route), m in failing.items()
        ]

    async def _cost_drivers(
        self, principal: Principal, tenant: UUID | None, now: datetime
    ) -> list[Recommendation]:
        """The services and keys costing most over the last 30 days, with growth against the
        30 days before."""
        found = []
        for dimension in (CostDimension.SERVICE, CostDimension.API_KEY):
            current = await self.costs.costs(
                principal, now - LOOKBACK, end=now, group_by=[dimension], tenant_id=tenant
            )
            previous = await self.costs.costs(
                principal,
                now - 2 * LOOKBACK,
                end=now - LOOKBACK,
                group_by=[dimension],
                tenant_id=tenant,
            )
            before = {(repr(c.group[dimension]), c.currency): c.amount for c in previous}
            totals: dict[str, Decimal] = defaultdict(Decimal)
            for line in current:
                totals[line.currency] += line.amount
            drivers = [c for c in current if c.amount > 0 and c.group[dimension] is not None]
            for line in drivers[:TOP_DRIVERS]:
                found.append(self._driver(dimension, line, before, totals))
        return found

    def _driver(
        self,
        dimension: CostDimension,
        line: CostLine,
        before: dict[tuple[str, str], Decimal],
        totals: dict[str, Decimal],
    ) -> Recommendation:
        subject = line.group[dimension]
        previous = before.get((repr(subject), line.currency), Decimal(0))
        amount = line.amount.quantize(Decimal("0.01"))
        noun = "Service" if dimension is CostDimension.SERVICE else "Key"
        growing = previous > 0 and line.amount > previous * Decimal("1.5")
        return Recommendation(
            kind=RecommendationKind.TOP_COST_DRIVER,
            severity=RecommendationSeverity.WARNING if growing else RecommendationSeverity.INFO,
            title=f"{noun} {subject} cost {amount} {line.currency} in the last 30 days",
            action="Review this spend first: it is among the largest"
            + (" and grew by more than half." if growing else "."),
            evidence=[
                Evidence("cost (30 days)", f"{amount} {line.currency}"),
                Evidence(
                    "previous 30 days", f"{previous.quantize(Decimal('0.01'))} {line.currency}"
                ),
                Evidence("growth", _growth(line.amount, previous)),
                Evidence(
                    "share of spend", _percent(float(line.amount), float(totals[line.currency]))
                ),
                Evidence("units", f"{line.units:,}"),
            ],
            key_id=as_uuid(subject) if dimension is CostDimension.API_KEY else None,
            service=str(subject) if dimension is CostDimension.SERVICE else None,
            amount=amount,
            currency=line.currency,
        )

    async def _unused_keys(
        self, principal: Principal, tenant: UUID | None, keys: list[ApiKey], now: datetime
    ) -> list[Recommendation]:
        """Active keys older than 30 days with no request in the last 30 days."""
        old = [k for k in keys if k.created_at <= now - LOOKBACK]
        if not old:
            return []
        rows = await self.analytics.buckets(
            principal,
            UsageQuery(now - LOOKBACK, now, tenant_id=tenant),
            group_by=[Dimension.API_KEY],
            series=None,
            latency=False,
        )
        used = {str(r.group.get(Dimension.API_KEY)) for r in rows if r.measures.requests}
        found = []
        for key in old:
            if str(key.id) in used:
                continue
            last = key.last_used_at.isoformat() if key.last_used_at else "never"
            found.append(
                Recommendation(
                    kind=RecommendationKind.UNUSED_KEY,
                    severity=RecommendationSeverity.INFO,
                    title=f"Key {key.name} ({key.masked_key}) was not used for 30 days",
                    action="Revoke the key if nobody needs it: an unused live key is only a risk.",
                    evidence=[
                        Evidence("requests (30 days)", "0"),
                        Evidence("last used", last),
                        Evidence("created", key.created_at.isoformat()),
                    ],
                    tenant_id=key.tenant_id,
                    key_id=key.id,
                )
            )
        return found

    async def _limits_above_peak(
        self, tenant: UUID | None, keys: list[ApiKey], now: datetime
    ) -> list[Recommendation]:
        """Windows whose limit is at least HEADROOM times the busiest hour (or day) the key
        had in 30 days. A window no longer than an hour can never have held more requests
        than the busiest hour, so the comparison is a bound, not an estimate."""
        candidates = [k for k in keys if k.created_at <= now - MIN_KEY_AGE]
        peaks: dict[Granularity, dict[str, int]] = {}
        found = []
        for key in candidates:
            stored = key.rate_limits if key.rate_limits is not None else _plan_windows(key)
            for window in windows_from_json(stored):
                level = next((lv for lv in _PEAK_LEVELS if window.seconds <= lv[0]), None)
                if level is None:
                    continue  # no rollup bounds a window longer than a day
                _, granularity, unit = level
                if granularity not in peaks:
                    peaks[granularity] = await _peaks(granularity, now - LOOKBACK, tenant)
                peak = peaks[granularity].get(str(key.id), 0)
                if peak == 0:
                    continue  # unused keys are reported on their own
                if peak * HEADROOM <= window.limit:
                    found.append(_above_peak(key, window.limit, window.seconds, peak, unit))
        return found


def _above_peak(key: ApiKey, limit: int, seconds: int, peak: int, unit: str) -> Recommendation:
    return Recommendation(
        kind=RecommendationKind.LIMIT_ABOVE_PEAK,
        severity=RecommendationSeverity.INFO,
        title=f"Key {key.name} allows {limit:,} requests per {seconds} s but never sent more "
        f"than {peak:,} in one {unit}",
        action="Lower the limit towards the observed peak (with some headroom): a leaked key "
        "could otherwise send this much.",
        evidence=[
            Evidence("limit", f"{limit:,} per {seconds} s"),
            Evidence(f"busiest {unit} (30 days)", f"{peak:,} requests"),
            Evidence("headroom", f"{limit / peak:,.0f}x"),
        ],
        tenant_id=key.tenant_id,
        key_id=key.id,
    )


async def _peaks(granularity: Granularity, since: datetime, tenant: UUID | None) -> dict[str, int]:
    """The most requests each key made in one bucket of `granularity` since `since`, from
    the key cube's rollups of the own API."""
    client = connection()
    dialect = dialect_of(client)
    tenant_text = "" if tenant is None else str(tenant)
    sql = (
        "SELECT key_id, MAX(requests) AS peak FROM (SELECT key_id, bucket, "
        "SUM(requests) AS requests FROM usage_rollups WHERE granularity = ? AND cube = 'key' "
        "AND bucket >= ? AND service = '' AND key_id <> '' AND (? = '' OR tenant_id = ?) "
        "GROUP BY key_id, bucket) AS buckets GROUP BY key_id"
    )
    params = [granularity.value, since, tenant_text, tenant_text]
    rows = await client.execute_query_dict(dialect.sql(sql), params)
    return {str(r["key_id"]): int(r["peak"]) for r in rows}


def _failed(m: Measures) -> int:
    """Calls that failed upstream: error statuses Tollway did not cause by refusing."""
    return m.errors - m.rejected


def _failing_route(
    tenant: object, name: str, route: object, m: Measures, line: CostLine | None
) -> Recommendation:
    failed = _failed(m)
    wasted = None
    evidence = [
        Evidence("requests (7 days)", f"{m.requests:,}"),
        Evidence("failed upstream", f"{failed:,} ({_percent(failed, m.requests)})"),
        Evidence("server errors", f"{m.server_errors:,}"),
    ]
    if line is not None and line.amount > 0:
        wasted = (line.amount * failed / m.requests).quantize(Decimal("0.01"))
        evidence.append(Evidence("cost (7 days)", f"{line.amount:.2f} {line.currency}"))
        evidence.append(Evidence("spent on failed calls", f"{wasted} {line.currency}"))
    return Recommendation(
        kind=RecommendationKind.FAILING_ROUTE_SPEND,
        severity=RecommendationSeverity.WARNING,
        title=f"{route or name} fails {_percent(failed, m.requests)} of its calls",
        action="Fix or stop calling the failing route; failed calls are still counted and charged.",
        evidence=evidence,
        tenant_id=as_uuid(tenant),
        route=None if route is None else str(route),
        service=name,
        amount=wasted,
        currency=line.currency if line is not None else None,
    )


def _plan_windows(key: ApiKey) -> list[dict[str, Any]]:
    plan = key.plan
    return plan.rate_limits if plan is not None else []


def _text(value: object) -> str | None:
    return None if value is None else str(value)
