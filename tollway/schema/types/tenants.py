"""Tenant types and inputs."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from tollway.models import Tenant as TenantModel
from tollway.models import TenantStatus

strawberry.enum(TenantStatus)


@strawberry.type
class Tenant:
    """An organisation using Tollway."""

    id: strawberry.ID
    name: str
    status: TenantStatus
    metadata: JSON
    auto_disable_compromised_keys: bool
    """Security policy: a key the detectors judge compromised is disabled (and audited)."""
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, model: TenantModel) -> Tenant:
        """Build from the Tortoise row."""
        return cls(
            id=strawberry.ID(str(model.id)),
            name=model.name,
            status=model.status,
            metadata=cast(JSON, model.metadata),
            auto_disable_compromised_keys=model.auto_disable_compromised_keys,
            created_at=model.created_at,
            updated_at=model.updated_at,
        )


@strawberry.input
class CreateTenantInput:
    """Fields of a new tenant."""

    name: str
    metadata: JSON | None = None


@strawberry.input
class UpdateTenantInput:
    """Fields to change; omitted fields stay as they are."""

    name: str | None = None
    status: TenantStatus | None = None
    metadata: JSON | None = None
    auto_disable_compromised_keys: bool | None = None


@strawberry.type
class TenantPayload:
    """Result of a tenant mutation."""

    tenant: Tenant
