"""Tenant queries and mutations."""

from __future__ import annotations

from typing import Any, cast

import strawberry

from tollway.models import TenantStatus
from tollway.schema.connections import Connection, to_connection
from tollway.schema.context import Info
from tollway.schema.ids import parse_id
from tollway.schema.permissions import Allowed
from tollway.schema.types.tenants import (
    CreateTenantInput,
    DataPolicyInput,
    Tenant,
    TenantPayload,
    UpdateTenantInput,
)
from tollway.tenants.service import TenantChanges


@strawberry.type
class TenantQuery:
    """Reading tenants."""

    @strawberry.field(permission_classes=[Allowed])
    async def tenants(
        self,
        info: Info,
        first: int | None = None,
        *,
        after: str | None = None,
        status: TenantStatus | None = None,
        name_contains: str | None = None,
    ) -> Connection[Tenant]:
        """Every tenant for a SUPER_ADMIN; otherwise the caller's own."""
        ctx = info.context
        page = await ctx.services.tenants.list(
            ctx.principal, first, after=after, status=status, name_contains=name_contains
        )
        return to_connection(page, Tenant.from_model)

    @strawberry.field(permission_classes=[Allowed])
    async def tenant(self, info: Info, id: strawberry.ID) -> Tenant:
        """One tenant by id."""
        ctx = info.context
        return Tenant.from_model(await ctx.services.tenants.get(ctx.principal, parse_id(id)))


@strawberry.type
class TenantMutation:
    """Changing tenants."""

    @strawberry.mutation(permission_classes=[Allowed])
    async def create_tenant(self, info: Info, input: CreateTenantInput) -> TenantPayload:
        """SUPER_ADMIN only."""
        ctx = info.context
        tenant = await ctx.services.tenants.create(
            ctx.principal, input.name, metadata=cast(dict[str, Any] | None, input.metadata)
        )
        return TenantPayload(tenant=Tenant.from_model(tenant))

    @strawberry.mutation(permission_classes=[Allowed])
    async def update_tenant(
        self, info: Info, id: strawberry.ID, *, input: UpdateTenantInput
    ) -> TenantPayload:
        """SUPER_ADMIN, or ADMIN of that tenant (status changes are SUPER_ADMIN only)."""
        ctx = info.context
        changes = TenantChanges(
            name=input.name,
            status=input.status,
            metadata=cast(dict[str, Any] | None, input.metadata),
            auto_disable_compromised_keys=input.auto_disable_compromised_keys,
        )
        tenant = await ctx.services.tenants.update(ctx.principal, parse_id(id), changes=changes)
        return TenantPayload(tenant=Tenant.from_model(tenant))

    @strawberry.mutation(permission_classes=[Allowed])
    async def set_tenant_data_policy(
        self, info: Info, tenant_id: strawberry.ID, *, input: DataPolicyInput
    ) -> TenantPayload:
        """Replace the tenant's data policy (audited as `tenant.data_policy`): every field left
        out or null follows the deployment's setting. SUPER_ADMIN, or ADMIN of the tenant."""
        ctx = info.context
        tenant = await ctx.services.data_policies.choose(
            ctx.principal, parse_id(tenant_id, "tenantId"), choices=input.to_choices()
        )
        return TenantPayload(tenant=Tenant.from_model(tenant))
