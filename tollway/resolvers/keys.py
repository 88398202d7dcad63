"""API key and plan queries and mutations, and `verifyApiKey`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import strawberry

from tollway.errors import BadUserInput
from tollway.keys.service import KeyFilter, NewKey
from tollway.models import KeyEnvironment, KeyStatus, OwnerType
from tollway.schema.connections import Connection, to_connection
from tollway.schema.context import Info
from tollway.schema.ids import parse_id, parse_optional_id
from tollway.schema.permissions import Allowed
from tollway.schema.types.keys import (
    ApiKey,
    ApiKeyPayload,
    CreateApiKeyInput,
    CreateApiKeyPayload,
    DeleteApiKeyPayload,
    LimitState,
    Plan,
    PlanInput,
    RotateApiKeyPayload,
    UpdateApiKeyInput,
    VerifyApiKeyResult,
)


def _changes(input: UpdateApiKeyInput) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name, value in vars(input).items():
        if value is strawberry.UNSET:
            continue
        if name == "rate_limits" and value is not None:
            value = [w.to_spec() for w in value]
        elif name == "quota" and value is not None:
            value = value.to_spec()
        elif name in {"scopes", "allowed_ips", "allowed_origins"} and value is None:
            value = []
        elif name in {"name", "status", "owner_type", "plan"} and value is None:
            raise BadUserInput(f"{name} cannot be null")
        changes[name] = value
    return changes


def _parse_route(route: str | None) -> tuple[str, str]:
    if not route:
        return "GET", "/"
    method, _, path = route.strip().partition(" ")
    if not path:
        method, path = "GET", method
    if not path.startswith("/"):
        raise BadUserInput("route must look like 'GET /reports/1' or '/reports/1'")
    return method.upper(), path


@strawberry.type
class KeyQuery:
    """Reading keys and plans."""

    @strawberry.field(permission_classes=[Allowed])
    async def api_keys(
        self,
        info: Info,
        tenant_id: strawberry.ID | None = None,
        *,
        first: int | None = None,
        after: str | None = None,
        status: KeyStatus | None = None,
        environment: KeyEnvironment | None = None,
        plan: str | None = None,
        owner_type: OwnerType | None = None,
        owner_id: str | None = None,
        search: str | None = None,
    ) -> Connection[ApiKey]:
        """Newest first; `search` matches the name or the start of the prefix."""
        ctx = info.context
        flt = KeyFilter(
            parse_optional_id(tenant_id, "tenantId"), status, environment, plan, owner_type,
            owner_id, search,
        )  # fmt: skip
        page = await ctx.services.keys.list(ctx.principal, flt, first=first, after=after)
        return to_connection(page, ApiKey.from_model)

    @strawberry.field(permission_classes=[Allowed])
    async def api_key(self, info: Info, id: strawberry.ID) -> ApiKey:
        """One key."""
        ctx = info.context
        return ApiKey.from_model(await ctx.services.keys.get(ctx.principal, parse_id(id)))

    @strawberry.field(permission_classes=[Allowed])
    async def plans(self, info: Info) -> list[Plan]:
        """Every plan."""
        return [Plan.from_model(p) for p in await info.context.services.plans.list()]


@strawberry.type
class KeyMutation:
    """Changing keys and plans; verifying keys."""

    @strawberry.mutation(permission_classes=[Allowed])
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        """A new key; the secret is in this response only."""
        ctx = info.context
        new = NewKey(
            tenant_id=parse_id(input.tenant_id, "tenantId"),
            name=input.name,
            environment=input.environment,
            description=input.description,
            owner_type=input.owner_type,
            owner_id=input.owner_id,
            scopes=input.scopes,
            allowed_ips=input.allowed_ips,
            allowed_origins=input.allowed_origins,
            expires_at=input.expires_at,
            plan=input.plan,
            rate_limits=None
            if input.rate_limits is None
            else [w.to_spec() for w in input.rate_limits],
            quota=input.quota.to_spec() if input.quota else None,
            rotation_period_days=input.rotation_period_days,
            metadata=cast(dict[str, Any] | None, input.metadata),
        )
        key, secret = await ctx.services.keys.create(ctx.principal, new)
        return CreateApiKeyPayload(secret=secret, api_key=ApiKey.from_model(key))

    @strawberry.mutation(permission_classes=[Allowed])
    async def update_api_key(
        self, info: Info, id: strawberry.ID, *, input: UpdateApiKeyInput
    ) -> ApiKeyPayload:
        """Everything but the secret; disable and enable with `status`."""
        ctx = info.context
        key = await ctx.services.keys.update(ctx.principal, parse_id(id), changes=_changes(input))
        return ApiKeyPayload(api_key=ApiKey.from_model(key))

    @strawberry.mutation(permission_classes=[Allowed])
    async def revoke_api_key(
        self, info: Info, id: strawberry.ID, *, reason: str | None = None
    ) -> ApiKeyPayload:
        """Irreversible."""
        ctx = info.context
        key = await ctx.services.keys.revoke(ctx.principal, parse_id(id), reason=reason)
        return ApiKeyPayload(api_key=ApiKey.from_model(key))

    @strawberry.mutation(permission_classes=[Allowed])
    async def rotate_api_key(
        self, info: Info, id: strawberry.ID, *, grace_period_seconds: int = 0
    ) -> RotateApiKeyPayload:
        """A new secret; the old one works for `gracePeriodSeconds` more."""
        ctx = info.context
        key, secret = await ctx.services.keys.rotate(
            ctx.principal, parse_id(id), grace_seconds=grace_period_seconds
        )
        return RotateApiKeyPayload(secret=secret, api_key=ApiKey.from_model(key))

    @strawberry.mutation(permission_classes=[Allowed])
    async def delete_api_key(self, info: Info, id: strawberry.ID) -> DeleteApiKeyPayload:
        """Remove a key for good."""
        ctx = info.context
        await ctx.services.keys.delete(ctx.principal, parse_id(id))
        return DeleteApiKeyPayload(deleted_id=id)

    @strawberry.mutation(permission_classes=[Allowed])
    async def create_plan(self, info: Info, input: PlanInput) -> Plan:
        """SUPER_ADMIN only."""
        return await _save_plan(info, input, create=True)

    @strawberry.mutation(permission_classes=[Allowed])
    async def update_plan(self, info: Info, input: PlanInput) -> Plan:
        """SUPER_ADMIN only; keys on the plan pick the change up on every instance."""
        return await _save_plan(info, input, create=False)

    @strawberry.mutation(permission_classes=[Allowed])
    async def verify_api_key(
        self,
        info: Info,
        key: str,
        *,
        route: str | None = None,
        cost: int | None = None,
        client_ip: str | None = None,
        origin: str | None = None,
    ) -> VerifyApiKeyResult:
        """The middleware's decision, for services that cannot run it. Consumes limits."""
        ctx = info.context
        if cost is not None and not 1 <= cost <= 1_000_000:
            raise BadUserInput("cost must be between 1 and 1000000")
        method, path = _parse_route(route)
        verdict = await ctx.services.verification.verify(
            ctx.principal, key, method=method, path=path, client_ip=client_ip, origin=origin,
            cost=cost,
        )  # fmt: skip
        record, decision = verdict.record, verdict.decision
        limits = [
            LimitState(
                name=r.name,
                limit=r.limit,
                remaining=r.remaining,
                reset_at=datetime.fromtimestamp(r.reset_ms / 1000, UTC) if r.reset_ms else None,
            )
            for r in (decision.results if decision else ())
        ]
        tightest = decision.most_constrained if decision else None
        return VerifyApiKeyResult(
            valid=verdict.allowed,
            code=verdict.code.value if verdict.code else None,
            detail=verdict.detail or None,
            key_id=strawberry.ID(record.key_id) if record else None,
            tenant_id=strawberry.ID(record.tenant_id) if record else None,
            scopes=sorted(record.scopes) if record else [],
            remaining=tightest.remaining if tightest else None,
            retry_after_seconds=decision.retry_after_seconds
            if decision and not decision.allowed
            else None,
            limits=limits,
        )


async def _save_plan(info: Info, input: PlanInput, create: bool) -> Plan:
    ctx = info.context
    plan = await ctx.services.plans.save(
        ctx.principal,
        input.name,
        description=input.description,
        windows=[w.to_spec() for w in input.rate_limits],
        quota=input.quota.to_spec() if input.quota else None,
        create=create,
    )
    return Plan.from_model(plan)
