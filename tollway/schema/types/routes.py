"""Route rule types."""

from __future__ import annotations

from datetime import datetime

import strawberry

from tollway.keys.limits import windows_from_json
from tollway.models import StoredRouteRule
from tollway.schema.types.keys import RateLimitWindowInput, RateLimitWindowType


@strawberry.type
class RouteRule:
    """Required scopes, cost weight, extra windows and publicness of a method + path pattern."""

    id: strawberry.ID
    name: str
    path: str
    methods: list[str]
    scopes: list[str]
    cost: int
    rate_limits: list[RateLimitWindowType]
    public: bool
    priority: int
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, r: StoredRouteRule) -> RouteRule:
        """From the stored rule."""
        windows = [RateLimitWindowType.from_window(w) for w in windows_from_json(r.rate_limits)]
        return cls(
            id=strawberry.ID(str(r.id)), name=r.name, path=r.path, methods=list(r.methods),
            scopes=list(r.scopes), cost=r.cost,
            rate_limits=windows,
            public=r.public, priority=r.priority, enabled=r.enabled, created_at=r.created_at,
            updated_at=r.updated_at,
        )  # fmt: skip


@strawberry.input
class CreateRouteRuleInput:
    """A rule. Paths: `/reports/{id}` or `*` match one segment, `**` the rest. No methods
    means every method. A public route needs no key; its windows apply per client IP."""

    name: str
    path: str
    methods: list[str] = strawberry.field(default_factory=list)
    scopes: list[str] = strawberry.field(default_factory=list)
    cost: int = 1
    rate_limits: list[RateLimitWindowInput] = strawberry.field(default_factory=list)
    public: bool = False
    priority: int = 100
    enabled: bool = True


@strawberry.input
class UpdateRouteRuleInput:
    """Fields to change; omitted ones stay."""

    name: str | None = strawberry.UNSET
    path: str | None = strawberry.UNSET
    methods: list[str] | None = strawberry.UNSET
    scopes: list[str] | None = strawberry.UNSET
    cost: int | None = strawberry.UNSET
    rate_limits: list[RateLimitWindowInput] | None = strawberry.UNSET
    public: bool | None = strawberry.UNSET
    priority: int | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
