"""API key, plan and verification types."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from tollway.keys.limits import (
    QuotaSpec,
    WindowSpec,
    quota_from_json,
    windows_from_json,
)
from tollway.keys.service import effective_status
from tollway.metering.analytics import UsageQuery
from tollway.models import ApiKey as ApiKeyModel
from tollway.models import KeyEnvironment, KeyStatus, OwnerType
from tollway.models import Plan as PlanModel
from tollway.ratelimit import Algorithm, Quota, QuotaPeriod, Window
from tollway.schema.context import Info
from tollway.schema.permissions import Allowed
from tollway.schema.types.tenants import Tenant
from tollway.schema.types.usage import UsageSummary

strawberry.enum(KeyEnvironment)
strawberry.enum(KeyStatus)
strawberry.enum(OwnerType)
strawberry.enum(Algorithm, name="RateLimitAlgorithm")
strawberry.enum(QuotaPeriod)


@strawberry.type(name="RateLimitWindow")
class RateLimitWindowType:
    """`limit` units per `windowSeconds`."""

    limit: int
    window_seconds: int
    algorithm: Algorithm
    burst: int | None

    @classmethod
    def from_window(cls, w: Window) -> RateLimitWindowType:
        """Convert."""
        return cls(limit=w.limit, window_seconds=w.seconds, algorithm=w.algorithm, burst=w.burst)


@strawberry.type(name="Quota")
class QuotaType:
    """`limit` units per calendar period (or TOTAL credits, optionally refilled)."""

    limit: int
    period: QuotaPeriod
    refill: QuotaPeriod | None

    @classmethod
    def from_quota(cls, q: Quota | None) -> QuotaType | None:
        """Convert."""
        return None if q is None else cls(limit=q.limit, period=q.period, refill=q.refill)


@strawberry.input
class RateLimitWindowInput:
    """A window; any number per key."""

    limit: int
    window_seconds: int
    algorithm: Algorithm = Algorithm.SLIDING_WINDOW
    burst: int | None = None

    def to_spec(self) -> WindowSpec:
        """Convert."""
        return WindowSpec(self.limit, self.window_seconds, self.algorithm, self.burst)


@strawberry.input
class QuotaInput:
    """A quota."""

    limit: int
    period: QuotaPeriod
    refill: QuotaPeriod | None = None

    def to_spec(self) -> QuotaSpec:
        """Convert."""
        return QuotaSpec(self.limit, self.period, self.refill)


@strawberry.type
class Plan:
    """Defaults that keys inherit."""

    id: strawberry.ID
    name: str
    description: str
    rate_limits: list[RateLimitWindowType]
    quota: QuotaType | None

    @classmethod
    def from_model(cls, p: PlanModel) -> Plan:
        """Convert."""
        return cls(
            id=strawberry.ID(str(p.id)),
            name=p.name,
            description=p.description,
            rate_limits=[
                RateLimitWindowType.from_window(w) for w in windows_from_json(p.rate_limits)
            ],
            quota=QuotaType.from_quota(quota_from_json(p.quota)),
        )


@strawberry.type
class ApiKey:
    """An API key. Its secret is never readable: only `prefix` and `maskedKey`."""

    id: strawberry.ID
    tenant_id: strawberry.ID
    name: str
    description: str
    owner_type: OwnerType
    owner_id: str | None
    environment: KeyEnvironment
    prefix: str
    masked_key: str
    status: KeyStatus
    scopes: list[str]
    allowed_ips: list[str]
    allowed_origins: list[str]
    expires_at: datetime | None
    rotation_period_days: int | None
    metadata: JSON
    last_used_at: datetime | None
    total_requests: int
    created_at: datetime
    updated_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str | None
    own_rate_limits: strawberry.Private[list[dict[str, Any]] | None]
    own_quota: strawberry.Private[dict[str, Any] | None]
    plan_id: strawberry.Private[Any]

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant | None:
        """The owning tenant."""
        from uuid import UUID

        model = await info.context.loaders.tenant.load(UUID(self.tenant_id))
        return Tenant.from_model(model) if model else None

    @strawberry.field
    async def plan(self, info: Info) -> Plan | None:
        """The plan the key inherits defaults from."""
        if self.plan_id is None:
            return None
        model = await info.context.loaders.plan.load(self.plan_id)
        return Plan.from_model(model) if model else None

    @strawberry.field
    async def rate_limits(self, info: Info) -> list[RateLimitWindowType]:
        """Effective windows: the key's own, or its plan's."""
        data = self.own_rate_limits
        if data is None and self.plan_id is not None:
            plan = await info.context.loaders.plan.load(self.plan_id)
            data = plan.rate_limits if plan else []
        return [RateLimitWindowType.from_window(w) for w in windows_from_json(data)]

    @strawberry.field
    async def quota(self, info: Info) -> QuotaType | None:
        """Effective quota: the key's own, or its plan's."""
        data = self.own_quota
        if data is None and self.plan_id is not None:
            plan = await info.context.loaders.plan.load(self.plan_id)
            data = plan.quota if plan else None
        return QuotaType.from_quota(quota_from_json(data))

    @strawberry.field(permission_classes=[Allowed])
    async def usage(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        *,
        to: datetime,
    ) -> UsageSummary:
        """This key's totals over [from, to), the same as `usage(apiKeyId:)`."""
        ctx = info.context
        query = UsageQuery(from_, to, key_id=UUID(str(self.id)))
        return UsageSummary.from_bucket(await ctx.services.analytics.summary(ctx.principal, query))

    @classmethod
    def from_model(cls, k: ApiKeyModel) -> ApiKey:
        """Convert."""
        return cls(
            id=strawberry.ID(str(k.id)),
            tenant_id=strawberry.ID(str(k.tenant_id)),
            name=k.name,
            description=k.description,
            owner_type=k.owner_type,
            owner_id=k.owner_id,
            environment=k.environment,
            prefix=k.prefix,
            masked_key=k.masked_key,
            status=effective_status(k),
            scopes=list(k.scopes),
            allowed_ips=list(k.allowed_ips),
            allowed_origins=list(k.allowed_origins),
            expires_at=k.expires_at,
            rotation_period_days=k.rotation_period_days,
            metadata=cast(JSON, k.metadata),
            last_used_at=k.last_used_at,
            total_requests=k.total_requests,
            created_at=k.created_at,
            updated_at=k.updated_at,
            rotated_at=k.rotated_at,
            revoked_at=k.revoked_at,
            revoked_reason=k.revoked_reason,
            own_rate_limits=k.rate_limits,
            own_quota=k.quota,
            plan_id=k.plan_id,
        )


@strawberry.input
class CreateApiKeyInput:
    """Fields of a new key. Without `plan` the key is on FREE; `rateLimits` and `quota`
    override the plan's."""

    tenant_id: strawberry.ID
    name: str
    environment: KeyEnvironment = KeyEnvironment.LIVE
    description: str = ""
    owner_type: OwnerType = OwnerType.CUSTOMER
    owner_id: str | None = None
    scopes: list[str] = strawberry.field(default_factory=list)
    allowed_ips: list[str] = strawberry.field(default_factory=list)
    allowed_origins: list[str] = strawberry.field(default_factory=list)
    expires_at: datetime | None = None
    plan: str | None = None
    rate_limits: list[RateLimitWindowInput] | None = None
    quota: QuotaInput | None = None
    rotation_period_days: int | None = None
    metadata: JSON | None = None


@strawberry.input
class UpdateApiKeyInput:
    """Fields to change; omitted ones stay. `status` toggles ACTIVE/DISABLED."""

    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    status: KeyStatus | None = strawberry.UNSET
    owner_type: OwnerType | None = strawberry.UNSET
    owner_id: str | None = strawberry.UNSET
    scopes: list[str] | None = strawberry.UNSET
    allowed_ips: list[str] | None = strawberry.UNSET
    allowed_origins: list[str] | None = strawberry.UNSET
    expires_at: datetime | None = strawberry.UNSET
    plan: str | None = strawberry.UNSET
    rate_limits: list[RateLimitWindowInput] | None = strawberry.UNSET
    quota: QuotaInput | None = strawberry.UNSET
    rotation_period_days: int | None = strawberry.UNSET
    metadata: JSON | None = strawberry.UNSET


@strawberry.type
class CreateApiKeyPayload:
    """The secret is returned here once and is never readable again."""

    secret: str
    api_key: ApiKey


@strawberry.type
class RotateApiKeyPayload:
    """The new secret, returned once."""

    secret: str
    api_key: ApiKey


@strawberry.type
class ApiKeyPayload:
    """Result of a key mutation."""

    api_key: ApiKey


@strawberry.type
class DeleteApiKeyPayload:
    """The id of the deleted key."""

    deleted_id: strawberry.ID


@strawberry.input
class PlanInput:
    """A plan's limits."""

    name: str
    description: str | None = None
    rate_limits: list[RateLimitWindowInput] = strawberry.field(default_factory=list)
    quota: QuotaInput | None = None


@strawberry.type
class LimitState:
    """One window or quota after a verification."""

    name: str
    limit: int
    remaining: int
    reset_at: datetime | None


@strawberry.type
class VerifyApiKeyResult:
    """The decision the middleware would make for this key, route and cost."""

    valid: bool
    code: str | None
    detail: str | None
    key_id: strawberry.ID | None
    tenant_id: strawberry.ID | None
    scopes: list[str]
    remaining: int | None
    retry_after_seconds: int | None
    limits: list[LimitState]
