"""Usage queries (totals, series, breakdowns, request log) and `recordUsage`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from tollway.metering.analytics import MAX_GROUPS, RequestLogFilter, UsageOrder, UsageQuery
from tollway.metering.dimensions import Dimension
from tollway.metering.reporting import ReportedEvent
from tollway.schema.connections import Connection, to_connection
from tollway.schema.context import Info
from tollway.schema.ids import parse_optional_id
from tollway.schema.permissions import Allowed
from tollway.schema.types.usage import (
    RecordUsagePayload,
    RequestLog,
    UsageBucketType,
    UsageEventInput,
    UsageFilterInput,
    UsageSummary,
)
from tollway.sql import Granularity

DEFAULT_BREAKDOWN = 20


def _query(
    start: datetime,
    end: datetime,
    tenant_id: strawberry.ID | None,
    api_key_id: strawberry.ID | None,
    flt: UsageFilterInput | None = None,
) -> UsageQuery:
    filters: dict[Dimension, str | int] = {}
    if flt is not None:
        given = {
            Dimension.ROUTE: flt.route,
            Dimension.METHOD: flt.method.upper() if flt.method else None,
            Dimension.STATUS_CLASS: flt.status_class,
            Dimension.ERROR_CODE: flt.error_code,
            Dimension.API_VERSION: flt.api_version,
            Dimension.SERVICE: flt.service,
        }
        filters = {d: v for d, v in given.items() if v is not None}
    return UsageQuery(
        start=start,
        end=end,
        tenant_id=parse_optional_id(tenant_id, "tenantId"),
        key_id=parse_optional_id(api_key_id, "apiKeyId"),
        filters=filters,
    )


@strawberry.type
class UsageQueryRoot:
    """Reading usage (tenant-scoped)."""

    @strawberry.field(permission_classes=[Allowed])
    async def usage(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        *,
        to: datetime,
        tenant_id: strawberry.ID | None = None,
        api_key_id: strawberry.ID | None = None,
        filter: UsageFilterInput | None = None,
    ) -> UsageSummary:
        """Totals over [from, to): requests, errors, rejections, latency percentiles."""
        ctx = info.context
        bucket = await ctx.services.analytics.summary(
            ctx.principal, _query(from_, to, tenant_id, api_key_id, filter)
        )
        return UsageSummary.from_bucket(bucket)

    @strawberry.field(permission_classes=[Allowed])
    async def usage_series(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        *,
        to: datetime,
        granularity: Granularity = Granularity.HOUR,
        tenant_id: strawberry.ID | None = None,
        api_key_id: strawberry.ID | None = None,
        filter: UsageFilterInput | None = None,
        group_by: list[Dimension] | None = None,
    ) -> list[UsageBucketType]:
        """One point per bucket (and group); at most 10,000 buckets."""
        ctx = info.context
        found = await ctx.services.analytics.series(
            ctx.principal,
            _query(from_, to, tenant_id, api_key_id, filter),
            granularity=granularity,
            group_by=group_by or [],
        )
        return [UsageBucketType.convert(b) for b in found]

    @strawberry.field(permission_classes=[Allowed])
    async def usage_breakdown(
        self,
        info: Info,
        group_by: list[Dimension],
        *,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        tenant_id: strawberry.ID | None = None,
        api_key_id: strawberry.ID | None = None,
        filter: UsageFilterInput | None = None,
        order_by: UsageOrder = UsageOrder.REQUESTS,
        first: int = DEFAULT_BREAKDOWN,
    ) -> list[UsageBucketType]:
        """Totals per group, largest first: per key (`[API_KEY]`), per tenant (`[TENANT]`),
        per route, per error code, per service..."""
        ctx = info.context
        found = await ctx.services.analytics.breakdown(
            ctx.principal, _query(from_, to, tenant_id, api_key_id, filter), group_by=group_by,
            order=order_by, limit=first,
        )  # fmt: skip
        return [UsageBucketType.convert(b) for b in found]

    @strawberry.field(permission_classes=[Allowed])
    async def top_routes(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        *,
        to: datetime,
        tenant_id: strawberry.ID | None = None,
        api_key_id: strawberry.ID | None = None,
        order_by: UsageOrder = UsageOrder.REQUESTS,
        first: int = 10,
    ) -> list[UsageBucketType]:
        """The busiest (or slowest, or most failing) routes."""
        ctx = info.context
        found = await ctx.services.analytics.breakdown(
            ctx.principal, _query(from_, to, tenant_id, api_key_id),
            group_by=[Dimension.METHOD, Dimension.ROUTE], order=order_by, limit=first,
        )  # fmt: skip
        return [UsageBucketType.convert(b) for b in found]

    @strawberry.field(permission_classes=[Allowed])
    async def errors_by_code(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        *,
        to: datetime,
        tenant_id: strawberry.ID | None = None,
        api_key_id: strawberry.ID | None = None,
    ) -> list[UsageBucketType]:
        """Failed requests per error code (Tollway's rejections) and status class."""
        ctx = info.context
        found = await ctx.services.analytics.breakdown(
            ctx.principal,
            _query(from_, to, tenant_id, api_key_id),
            group_by=[Dimension.ERROR_CODE, Dimension.STATUS_CLASS],
            order=UsageOrder.ERRORS,
            limit=MAX_GROUPS,
        )
        return [UsageBucketType.convert(b) for b in found if b.measures.errors]

    @strawberry.field(permission_classes=[Allowed])
    async def request_logs(
        self,
        info: Info,
        tenant_id: strawberry.ID | None = None,
        *,
        api_key_id: strawberry.ID | None = None,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        route: str | None = None,
        method: str | None = None,
        status: int | None = None,
        error_code: str | None = None,
        service: str | None = None,
        client_ip: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[RequestLog]:
        """Raw requests, newest first, kept for the raw retention period."""
        ctx = info.context
        flt = RequestLogFilter(
            start=from_, end=to, key_id=parse_optional_id(api_key_id, "apiKeyId"), route=route,
            method=method, status=status, error_code=error_code, service=service,
            client_ip=client_ip,
        )  # fmt: skip
        page = await ctx.services.analytics.request_logs(
            ctx.principal,
            parse_optional_id(tenant_id, "tenantId"),
            flt=flt,
            first=first,
            after=after,
        )
        return to_connection(page, RequestLog.from_model)


@strawberry.type
class UsageMutation:
    """Reporting usage from services that are not behind the middleware."""

    @strawberry.mutation(permission_classes=[Allowed])
    async def record_usage(self, info: Info, events: list[UsageEventInput]) -> RecordUsagePayload:
        """Store up to 1,000 events (SERVICE, ADMIN or SUPER_ADMIN); repeats of an
        `eventId` are ignored."""
        ctx = info.context
        reported = [
            ReportedEvent(
                event_id=e.event_id,
                service=e.service,
                units=e.units,
                tenant_id=parse_optional_id(e.tenant_id, f"events[{i}].tenantId"),
                key_id=parse_optional_id(e.api_key_id, f"events[{i}].apiKeyId"),
                unit_type=e.unit_type,
                cost=e.cost,
                currency=e.currency,
                at=e.at,
                route=e.route,
                method=e.method,
                status=e.status,
                latency_ms=e.latency_ms,
                request_bytes=e.request_bytes,
                response_bytes=e.response_bytes,
            )
            for i, e in enumerate(events)
        ]
        accepted = await ctx.services.reporter.record(ctx.principal, reported)
        return RecordUsagePayload(accepted=accepted)
