"""Route rules: the scopes, cost and extra windows of method + path patterns."""

from __future__ import annotations

from typing import Any

import strawberry

from tollway.enforcement.route_store import RouteRuleFields
from tollway.schema.context import Info
from tollway.schema.ids import parse_id
from tollway.schema.permissions import Allowed
from tollway.schema.types.routes import CreateRouteRuleInput, RouteRule, UpdateRouteRuleInput


@strawberry.type
class RouteQuery:
    """Reading route rules."""

    @strawberry.field(permission_classes=[Allowed])
    async def route_rules(self, info: Info) -> list[RouteRule]:
        """Every managed rule, in matching order (rules given in code come before them)."""
        ctx = info.context
        return [RouteRule.from_model(r) for r in await ctx.services.routes.list(ctx.principal)]


@strawberry.type
class RouteMutation:
    """Managing route rules (SUPER_ADMIN)."""

    @strawberry.mutation(permission_classes=[Allowed])
    async def create_route_rule(self, info: Info, input: CreateRouteRuleInput) -> RouteRule:
        """A rule, enforced on every instance within a second."""
        ctx = info.context
        fields = RouteRuleFields(
            name=input.name, path=input.path, methods=input.methods, scopes=input.scopes,
            cost=input.cost, rate_limits=[w.to_spec() for w in input.rate_limits],
            public=input.public, priority=input.priority, enabled=input.enabled,
        )  # fmt: skip
        return RouteRule.from_model(await ctx.services.routes.create(ctx.principal, fields))

    @strawberry.mutation(permission_classes=[Allowed])
    async def update_route_rule(
        self, info: Info, id: strawberry.ID, *, input: UpdateRouteRuleInput
    ) -> RouteRule:
        """Change a rule."""
        changes: dict[str, Any] = {
            k: v for k, v in vars(input).items() if v is not strawberry.UNSET
        }
        if changes.get("rate_limits") is not None:
            changes["rate_limits"] = [w.to_spec() for w in changes["rate_limits"]]
        ctx = info.context
        row = await ctx.services.routes.update(ctx.principal, parse_id(id), changes=changes)
        return RouteRule.from_model(row)

    @strawberry.mutation(permission_classes=[Allowed])
    async def delete_route_rule(self, info: Info, id: strawberry.ID) -> RouteRule:
        """Remove a rule."""
        ctx = info.context
        return RouteRule.from_model(await ctx.services.routes.delete(ctx.principal, parse_id(id)))
