"""Health and identity queries."""

from __future__ import annotations

import strawberry

from tollway.schema.context import Info
from tollway.schema.permissions import Allowed
from tollway.schema.types.health import ComponentHealth, Health, Me


@strawberry.type
class HealthQuery:
    """Service health and the caller's identity."""

    @strawberry.field(permission_classes=[Allowed])
    async def health(self, info: Info) -> Health:
        """Database, Redis, broadcaster and worker, each with status and latency, then the
        caller's integrations (which do not count towards `status`)."""
        services = info.context.services
        report = await services.health.report()
        integrations = await services.integrations.components(info.context.principal)
        return Health(
            status=report.status,
            components=[
                ComponentHealth(
                    name=c.name,
                    status=c.status,
                    latency_ms=None if c.latency_ms is None else round(c.latency_ms, 3),
                    detail=c.detail,
                )
                for c in [*report.components, *integrations]
            ],
        )

    @strawberry.field(permission_classes=[Allowed])
    def me(self, info: Info) -> Me:
        """Who the token belongs to."""
        principal = info.context.principal
        return Me(
            subject=principal.subject,
            role=principal.role,
            tenant_id=strawberry.ID(str(principal.tenant_id)) if principal.tenant_id else None,
        )
