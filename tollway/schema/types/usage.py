"""Usage analytics and reporting types."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from tollway.metering.analytics import UsageBucket, UsageOrder
from tollway.metering.dimensions import Dimension
from tollway.models import UsageEvent
from tollway.schema.scalars import BigInt
from tollway.schema.types.named import NamesTenantAndKey
from tollway.sql import Granularity

strawberry.enum(Dimension, name="UsageDimension")
strawberry.enum(Granularity, name="UsageGranularity")
strawberry.enum(UsageOrder)


@strawberry.type
class UsageGroup(NamesTenantAndKey):
    """The dimension values of a group (null where not grouped, or missing)."""

    tenant_id: strawberry.ID | None = None
    api_key_id: strawberry.ID | None = None
    route: str | None = None
    method: str | None = None
    status_class: int | None = None
    error_code: str | None = None
    api_version: str | None = None
    service: str | None = None
    unit_type: str | None = None


@strawberry.type
class UsageSummary:
    """Usage totals. Errors are responses with status 400 or more (rejections included);
    rejections are requests Tollway refused. Percentiles come from a DDSketch with 1%
    relative accuracy."""

    total_requests: BigInt
    error_requests: BigInt
    server_error_requests: BigInt
    rejected_requests: BigInt
    request_bytes: BigInt
    response_bytes: BigInt
    units: BigInt
    cost_units: BigInt
    reported_cost: Decimal
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    p99_latency_ms: float | None
    average_latency_ms: float | None
    requests_per_second: float
    error_rate: float

    @classmethod
    def measures_of(cls, bucket: UsageBucket) -> dict[str, object]:
        """The summary fields of a bucket."""
        m = bucket.measures
        p50, p95, p99 = m.percentiles()
        return {
            "total_requests": m.requests,
            "error_requests": m.errors,
            "server_error_requests": m.server_errors,
            "rejected_requests": m.rejected,
            "request_bytes": m.request_bytes,
            "response_bytes": m.response_bytes,
            "units": m.units,
            "cost_units": m.cost_units,
            "reported_cost": m.reported_cost,
            "p50_latency_ms": p50,
            "p95_latency_ms": p95,
            "p99_latency_ms": p99,
            "average_latency_ms": round(m.latency_sum / m.latency_count, 3)
            if m.latency_count
            else None,
            "requests_per_second": round(m.requests / bucket.seconds, 6) if bucket.seconds else 0.0,
            "error_rate": round(m.errors / m.requests, 6) if m.requests else 0.0,
        }

    @classmethod
    def from_bucket(cls, bucket: UsageBucket) -> UsageSummary:
        """The summary of one bucket."""
        return cls(**cls.measures_of(bucket))  # type: ignore[arg-type]


@strawberry.type(name="UsageBucket")
class UsageBucketType(UsageSummary):
    """Usage of one group, and one time bucket in a series (`at` is its start)."""

    at: datetime | None
    group: UsageGroup

    @classmethod
    def convert(cls, bucket: UsageBucket) -> UsageBucketType:
        """From the service's bucket."""
        values = {d.name.lower(): v for d, v in bucket.group.items()}
        group = UsageGroup(
            tenant_id=_id(values.get("tenant")),
            api_key_id=_id(values.get("api_key")),
            route=_text(values.get("route")),
            method=_text(values.get("method")),
            status_class=_int(values.get("status_class")),
            error_code=_text(values.get("error_code")),
            api_version=_text(values.get("api_version")),
            service=_text(values.get("service")),
            unit_type=_text(values.get("unit_type")),
        )
        return cls(at=bucket.at, group=group, **cls.measures_of(bucket))  # type: ignore[arg-type]


def _id(value: object) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))


@strawberry.input
class UsageFilterInput:
    """Equality filters on usage dimensions."""

    route: str | None = None
    method: str | None = None
    status_class: int | None = None
    error_code: str | None = None
    api_version: str | None = None
    service: str | None = None


@strawberry.type
class RequestLog:
    """One raw request (or reported call) from the request log."""

    id: strawberry.ID
    event_id: strawberry.ID
    at: datetime
    tenant_id: strawberry.ID | None
    api_key_id: strawberry.ID | None
    method: str
    route: str
    path: str
    status: int
    error_code: str | None
    latency_ms: float
    request_bytes: int
    response_bytes: int
    client_ip: str | None
    user_agent: str | None
    api_version: str | None
    service: str | None
    units: BigInt
    unit_type: str
    cost: Decimal | None

    @classmethod
    def from_model(cls, row: UsageEvent) -> RequestLog:
        """From a stored event."""
        return cls(
            id=strawberry.ID(str(row.id)),
            event_id=strawberry.ID(str(row.event_id)),
            at=row.at,
            tenant_id=_id(row.tenant_id),
            api_key_id=_id(row.key_id),
            method=row.method,
            route=row.route,
            path=row.path,
            status=row.status,
            error_code=row.error_code,
            latency_ms=row.latency_ms,
            request_bytes=row.request_bytes,
            response_bytes=row.response_bytes,
            client_ip=row.client_ip,
            user_agent=row.user_agent,
            api_version=row.api_version,
            service=row.service,
            units=row.units,
            unit_type=row.unit_type,
            cost=None if row.cost is None else Decimal(str(row.cost)),
        )


@strawberry.input
class UsageEventInput:
    """A usage event reported by a service (`eventId` makes the report idempotent)."""

    event_id: str
    service: str
    units: int
    tenant_id: strawberry.ID | None = None
    api_key_id: strawberry.ID | None = None
    unit_type: str | None = None
    cost: Decimal | None = None
    currency: str | None = None
    at: datetime | None = None
    route: str | None = None
    method: str | None = None
    status: int = 200
    latency_ms: float | None = None
    request_bytes: int = 0
    response_bytes: int = 0


@strawberry.type
class RecordUsagePayload:
    """How many events were accepted (repeats of stored ids are accepted and ignored)."""

    accepted: int
