"""Audit-log query and live subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from tollway.audit.service import AuditFilter
from tollway.schema.connections import Connection, to_connection
from tollway.schema.context import Info
from tollway.schema.ids import parse_optional_id
from tollway.schema.permissions import Allowed
from tollway.schema.types.audit import AuditEntry, AuditLogFilter


@strawberry.type
class AuditQuery:
    """Reading the audit log."""

    @strawberry.field(permission_classes=[Allowed])
    async def audit_log(
        self,
        info: Info,
        filter: AuditLogFilter | None = None,
        *,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[AuditEntry]:
        """Newest first, within the caller's tenant (every tenant for SUPER_ADMIN)."""
        f = filter or AuditLogFilter()
        flt = AuditFilter(
            tenant_id=parse_optional_id(f.tenant_id, "tenantId"),
            actor=f.actor,
            action=f.action,
            target_type=f.target_type,
            target_id=f.target_id,
            since=f.since,
            until=f.until,
        )
        ctx = info.context
        page = await ctx.services.audit.list(ctx.principal, flt, first=first, after=after)
        return to_connection(page, AuditEntry.from_model)


@strawberry.type
class AuditSubscription:
    """Audit entries as they are committed, on every instance."""

    @strawberry.subscription(permission_classes=[Allowed])
    async def audit_events(
        self, info: Info, tenant_id: strawberry.ID | None = None
    ) -> AsyncGenerator[AuditEntry, None]:
        """Only entries of the caller's tenant (any tenant, or the one named, for SUPER_ADMIN)."""
        ctx = info.context
        scope = parse_optional_id(tenant_id, "tenantId")
        async for entry in ctx.services.audit.live(ctx.principal, scope):
            yield AuditEntry.from_model(entry)
