"""Usage analytics: totals, time series, breakdowns and the raw request log, tenant-scoped.

A range is answered from the coarsest rollups that fit it and from raw events for its
edges and for the last seconds not rolled up yet (`buckets.plan_segments`), so a month
costs a few dozen rows and a request is visible as soon as its batch is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from tollway.auth.principal import READ_ROLES, Principal
from tollway.errors import BadUserInput
from tollway.metering.aggregate import (
    GroupKey,
    Measures,
    UsageFilter,
    fold_raw,
    fold_rollups,
    raw_aggregate,
    rollup_select_sql,
)
from tollway.metering.buckets import STEP, Segment, floor, plan_segments
from tollway.metering.dimensions import CUBE_LEVELS, CUBES, Dimension, cube_for, shown
from tollway.metering.rollups import RollupJob
from tollway.models import UsageEvent
from tollway.pagination import Page, paginate
from tollway.sql import Dialect, Granularity, as_datetime, connection, dialect_of

MAX_RANGE = timedelta(days=3660)
MAX_POINTS = 10_000
MAX_GROUPS = 1000
"""Who reads usage, request logs, costs and recommendations (SERVICE records, never reads)."""
"""Services read their own tenant's usage too (to show it, or to meter their callers)."""


class UsageOrder(StrEnum):
    """How breakdown rows are ranked (largest first)."""

    REQUESTS = "REQUESTS"
    ERRORS = "ERRORS"
    REJECTED = "REJECTED"
    P95_LATENCY = "P95_LATENCY"
    COST_UNITS = "COST_UNITS"
    UNITS = "UNITS"


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """A range and its filters, as a client asked for them."""

    start: datetime
    end: datetime
    tenant_id: UUID | None = None
    key_id: UUID | None = None
    filters: dict[Dimension, str | int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UsageBucket:
    """Measures of one group (and one time bucket, for a series)."""

    at: datetime | None
    group: dict[Dimension, str | int | None]
    measures: Measures
    seconds: float
    """The part of the bucket inside the range that has happened: what rates divide by."""


@dataclass(frozen=True, slots=True)
class RequestLogFilter:
    """Filters of the raw request log."""

    start: datetime | None = None
    end: datetime | None = None
    key_id: UUID | None = None
    route: str | None = None
    method: str | None = None
    status: int | None = None
    error_code: str | None = None
    service: str | None = None
    client_ip: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and not 100 <= self.status <= 599:
            raise BadUserInput(f"status must be an HTTP status (100-599), not {self.status}")


class AnalyticsService:
    """Answers usage questions from rollups and raw events."""

    def __init__(
        self, rollups: RollupJob, hour_retention: timedelta, *, page_size_max: int
    ) -> None:
        self.rollups = rollups
        self.hour_retention = hour_retention
        self.page_size_max = page_size_max

    async def summary(self, principal: Principal, query: UsageQuery) -> UsageBucket:
        """Totals over the whole range."""
        buckets = await self.buckets(principal, query, group_by=[], series=None)
        return buckets[0] if buckets else self._empty(query)

    async def series(
        self,
        principal: Principal,
        query: UsageQuery,
        *,
        granularity: Granularity,
        group_by: Sequence[Dimension],
        latency: bool = True,
    ) -> list[UsageBucket]:
        """One bucket per time step (and group), in time order; empty steps included when
        nothing is grouped. Without `latency`, sketches are not read (faster)."""
        start, end = floor(granularity, as_datetime(query.start)), as_datetime(query.end)
        steps = (end - start) / STEP[granularity]
        if steps > MAX_POINTS:
            raise BadUserInput(
                f"{int(steps)} {granularity.value.lower()} buckets requested; at most "
                f"{MAX_POINTS} (choose a coarser granularity or a shorter range)"
            )
        found = await self.buckets(
            principal, query, group_by=group_by, series=granularity, latency=latency
        )
        if group_by:
            return sorted(found, key=lambda b: (b.at or start, repr(b.group)))
        by_time = {b.at: b for b in found}
        result, moment, now = [], start, datetime.now(UTC)
        while moment < end:
            seconds = elapsed_seconds(
                as_datetime(query.start), end, series=granularity, bucket=moment, now=now
            )
            result.append(by_time.get(moment) or UsageBucket(moment, {}, Measures(), seconds))
            moment += STEP[granularity]
        return result

    async def breakdown(
        self,
        principal: Principal,
        query: UsageQuery,
        *,
        group_by: Sequence[Dimension],
        order: UsageOrder,
        limit: int,
    ) -> list[UsageBucket]:
        """Totals per group over the range, largest first."""
        if not group_by:
            raise BadUserInput("groupBy needs at least one dimension")
        if not 1 <= limit <= MAX_GROUPS:
            raise BadUserInput(f"first must be between 1 and {MAX_GROUPS}, got {limit}")
        found = await self.buckets(principal, query, group_by=group_by, series=None)
        found.sort(key=lambda b: _rank(b.measures, order), reverse=True)
        return found[:limit]

    async def buckets(
        self,
        principal: Principal,
        query: UsageQuery,
        *,
        group_by: Sequence[Dimension],
        series: Granularity | None,
        latency: bool = True,
    ) -> list[UsageBucket]:
        """The measures of every (bucket, group) with any usage."""
        principal.require_role(READ_ROLES, "read usage")
        start, end = as_datetime(query.start), as_datetime(query.end)
        if end <= start:
            raise BadUserInput("`to` must be after `from`")
        if end - start > MAX_RANGE:
            raise BadUserInput("the range may span at most 10 years")
        flt = self._filter(principal, query)
        dims = list(dict.fromkeys(group_by))
        cube = cube_for(set(flt.values) | set(dims))
        client = connection()
        dialect = dialect_of(client)
        watermark = await self.rollups.watermark(client)
        now = datetime.now(UTC)
        kept = {
            Granularity.MINUTE: now - self.rollups.minute_retention,
            Granularity.HOUR: now - self.hour_retention,
        }
        segments = plan_segments(
            start,
            end,
            watermark=watermark,
            finest_rollup=kept,
            coarsest=series or Granularity.DAY,
            available=CUBE_LEVELS[cube],
        )
        groups: dict[GroupKey, Measures] = {}
        names = [d.value for d in dims]

        def key_of(bucket: datetime | None, row: dict[str, Any]) -> GroupKey:
            at = floor(series, bucket) if series and bucket else None
            return (at, *(row[n] for n in names))

        for segment in segments:
            sql, params = self._segment_sql(dialect, segment, cube, flt, dims, series, latency)
            rows = await client.execute_query_dict(sql, params)
            (fold_raw if segment.source is None else fold_rollups)(rows, key_of, into=groups)
        return [
            UsageBucket(
                at=key[0],
                group={d: shown(d, v) for d, v in zip(dims, key[1:], strict=True)},
                measures=measures,
                seconds=elapsed_seconds(start, end, series=series, bucket=key[0], now=now),
            )
            for key, measures in groups.items()
        ]

    def _segment_sql(
        self,
        dialect: Dialect,
        segment: Segment,
        cube: str,
        flt: UsageFilter,
        dims: list[Dimension],
        series: Granularity | None,
        latency: bool,
    ) -> tuple[str, list[Any]]:
        if segment.source is None:
            sql, params = raw_aggregate(
                dialect, dims, bucket=series, flt=flt, start=segment.start, end=segment.end
            )
            return dialect.sql(sql), params
        return rollup_select_sql(
            dialect,
            segment.source,
            cube=cube,
            flt=flt,
            start=segment.start,
            end=segment.end,
            dims=dims,
            summed=not latency,
        )

    def _filter(self, principal: Principal, query: UsageQuery) -> UsageFilter:
        values: dict[Dimension, str | int] = dict(query.filters)
        tenant = principal.scope_tenant(query.tenant_id)
        if tenant is not None:
            values[Dimension.TENANT] = str(tenant)
        if query.key_id is not None:
            values[Dimension.API_KEY] = str(query.key_id)
        unknown = set(values) - CUBES["detail"]
        if unknown:
            raise BadUserInput(f"cannot filter on {sorted(unknown)}")
        return UsageFilter(values)

    def _empty(self, query: UsageQuery) -> UsageBucket:
        start, end = as_datetime(query.start), as_datetime(query.end)
        return UsageBucket(
            None,
            {},
            Measures(),
            elapsed_seconds(start, end, series=None, bucket=None, now=datetime.now(UTC)),
        )

    async def request_logs(
        self,
        principal: Principal,
        tenant_id: UUID | None,
        *,
        flt: RequestLogFilter,
        first: int | None,
        after: str | None,
    ) -> Page[UsageEvent]:
        """Raw events, newest first (kept for the raw retention period)."""
        principal.require_role(READ_ROLES, "read request logs")
        tenant = principal.scope_tenant(tenant_id)
        query = UsageEvent.all()
        if tenant is not None:
            query = query.filter(tenant_id=tenant)
        conditions: dict[str, Any] = {
            "at__gte": flt.start and as_datetime(flt.start),
            "at__lt": flt.end and as_datetime(flt.end),
            "key_id": flt.key_id,
            "route": flt.route,
            "method": flt.method and flt.method.upper(),
            "status": flt.status,
            "error_code": flt.error_code,
            "service": flt.service,
            "client_ip": flt.client_ip,
        }
        query = query.filter(**{k: v for k, v in conditions.items() if v is not None})
        return await paginate(
            query,
            first=first,
            after=after,
            sort_field="at",
            descending=True,
            max_page_size=self.page_size_max,
        )


def elapsed_seconds(
    start: datetime,
    end: datetime,
    *,
    series: Granularity | None,
    bucket: datetime | None,
    now: datetime,
) -> float:
    """How much of a bucket (the whole range without a series) lies inside [start, end) and
    has already happened: what a rate is measured over."""
    if series is not None and bucket is not None:
        start, end = max(start, bucket), min(end, bucket + STEP[series])
    return max((min(end, now) - start).total_seconds(), 0.0)


def _rank(measures: Measures, order: UsageOrder) -> float:
    if order is UsageOrder.P95_LATENCY:
        return measures.percentiles().p95 or 0.0
    attribute = {
        UsageOrder.REQUESTS: "requests",
        UsageOrder.ERRORS: "errors",
        UsageOrder.REJECTED: "rejected",
        UsageOrder.COST_UNITS: "cost_units",
        UsageOrder.UNITS: "units",
    }[order]
    return float(getattr(measures, attribute))
