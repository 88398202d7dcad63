"""Audit log types."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from tollway.models import AuditEntry as AuditEntryModel
from tollway.schema.context import Info
from tollway.schema.types.tenants import Tenant


@strawberry.type
class AuditEntry:
    """One change made through the admin API; secrets in `changes` are redacted."""

    id: strawberry.ID
    tenant_id: strawberry.ID | None
    actor: str
    actor_role: str
    action: str
    target_type: str
    target_id: str | None
    changes: JSON
    at: datetime

    @strawberry.field
    async def tenant(self, info: Info) -> Tenant | None:
        """The tenant the change belongs to (batched through a DataLoader)."""
        if self.tenant_id is None:
            return None
        from uuid import UUID

        model = await info.context.loaders.tenant.load(UUID(self.tenant_id))
        return Tenant.from_model(model) if model else None

    @classmethod
    def from_model(cls, model: AuditEntryModel) -> AuditEntry:
        """Build from the Tortoise row."""
        return cls(
            id=strawberry.ID(str(model.id)),
            tenant_id=strawberry.ID(str(model.tenant_id)) if model.tenant_id else None,
            actor=model.actor,
            actor_role=model.actor_role,
            action=model.action,
            target_type=model.target_type,
            target_id=model.target_id,
            changes=cast(JSON, model.changes),
            at=model.at,
        )


@strawberry.input
class AuditLogFilter:
    """Filters for `auditLog`; all optional and combined with AND."""

    tenant_id: strawberry.ID | None = None
    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
