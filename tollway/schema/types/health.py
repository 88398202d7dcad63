"""Health and identity types."""

from __future__ import annotations

import strawberry

from tollway.auth.principal import Role
from tollway.health.checks import HealthStatus

strawberry.enum(HealthStatus)
strawberry.enum(Role)


@strawberry.type
class ComponentHealth:
    """One dependency's state."""

    name: str
    status: HealthStatus
    latency_ms: float | None
    detail: str


@strawberry.type
class Health:
    """Overall status (the worst component) and every component."""

    status: HealthStatus
    components: list[ComponentHealth]


@strawberry.type
class Me:
    """The caller behind the token."""

    subject: str
    role: Role
    tenant_id: strawberry.ID | None
