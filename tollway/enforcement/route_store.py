"""Route rules kept in the database: CRUD for the admin API, and loading for the middleware.

Every instance's middleware reloads them on a broadcast (at once) and every few seconds
otherwise; rules given in code come first, then these by priority.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from tollway.audit.service import AuditService
from tollway.auth.principal import READ_ROLES, SUPER_ADMIN_ONLY, Principal
from tollway.enforcement.routes import RouteRule
from tollway.errors import BadUserInput, Conflict, NotFound
from tollway.events import INVALIDATIONS_CHANNEL, EventBus
from tollway.keys.limits import WindowSpec, validate_windows, windows_from_json, windows_to_json
from tollway.keys.validation import clean_scopes
from tollway.models import StoredRouteRule
from tollway.text import clean_text

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()+,;=:@%{}*/-]*$")
MAX_COST = 1_000_000
LOADED_AT_MOST = 1000


@dataclass(slots=True)
class RouteRuleFields:
    """Fields of `createRouteRule` (updates give any subset)."""

    name: str
    path: str
    methods: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    cost: int = 1
    rate_limits: list[WindowSpec] = field(default_factory=list)
    public: bool = False
    priority: int = 100
    enabled: bool = True


def to_rule(row: StoredRouteRule) -> RouteRule:
    """The middleware's form of a stored rule."""
    return RouteRule(
        path=row.path, methods=frozenset(row.methods), scopes=tuple(row.scopes), cost=row.cost,
        windows=tuple(windows_from_json(row.rate_limits)), public=row.public, name=row.name,
    )  # fmt: skip


async def load_route_rules() -> list[RouteRule]:
    """Enabled rules, in matching order."""
    rows = await StoredRouteRule.filter(enabled=True).limit(LOADED_AT_MOST)
    return [to_rule(row) for row in rows]


def _clean(name: str, value: Any) -> Any:
    if value is None:
        raise BadUserInput(f"{name} cannot be null")
    if name == "name":
        return clean_text(value, "name", maximum=120)
    if name == "path":
        path = clean_text(value, "path", maximum=500)
        if not PATH.match(path) or "//" in path:
            raise BadUserInput(f"path: {path!r} is not a path pattern such as /reports/{{id}}/**")
        return path
    if name == "methods":
        methods = [str(m).upper() for m in value]
        unknown = sorted(set(methods) - METHODS)
        if unknown:
            raise BadUserInput(f"methods: unknown method {unknown[0]!r}")
        return sorted(set(methods))
    if name == "scopes":
        return clean_scopes(value)
    if name == "cost":
        if not 1 <= value <= MAX_COST:
            raise BadUserInput(f"cost must be between 1 and {MAX_COST}")
        return value
    if name == "rate_limits":
        return windows_to_json(validate_windows(value))
    if name == "priority":
        if not -1_000_000 <= value <= 1_000_000:
            raise BadUserInput("priority must be between -1000000 and 1000000")
        return value
    if name in {"public", "enabled"}:
        return bool(value)
    raise BadUserInput(f"{name} cannot be set")


class RouteRuleService:
    """Route rules: read by any admin role, written by SUPER_ADMIN (they apply to every key)."""

    def __init__(self, audit: AuditService, bus: EventBus) -> None:
        self._audit = audit
        self._bus = bus

    async def _changed(self) -> None:
        await self._bus.publish(INVALIDATIONS_CHANNEL, {"routes": True})

    async def list(self, principal: Principal) -> Sequence[StoredRouteRule]:
        """Every rule, in matching order."""
        principal.require_role(READ_ROLES, "read route rules")
        return await StoredRouteRule.all()

    async def create(self, principal: Principal, new: RouteRuleFields) -> StoredRouteRule:
        """A new rule, live on every instance within a second."""
        principal.require_role(SUPER_ADMIN_ONLY, "manage route rules")
        values = {name: _clean(name, getattr(new, name)) for name in RouteRuleFields.__slots__}
        self._check(values)
        try:
            async with in_transaction():
                row = await StoredRouteRule.create(**values)
                entry = await self._audit.record(
                    principal,
                    "route_rule.create",
                    target_type="route_rule",
                    target_id=row.id,
                    tenant_id=None,
                    changes=values,
                )
        except IntegrityError:
            raise Conflict(f"a route rule named {values['name']!r} exists") from None
        self._audit.announce(entry)
        await self._changed()
        return row

    async def update(
        self, principal: Principal, rule_id: UUID, *, changes: dict[str, Any]
    ) -> StoredRouteRule:
        """Change the given fields."""
        principal.require_role(SUPER_ADMIN_ONLY, "manage route rules")
        values = {name: _clean(name, value) for name, value in changes.items()}
        if not values:
            raise BadUserInput("nothing to update: give at least one field")
        try:
            async with in_transaction():
                row = await StoredRouteRule.get_or_none(id=rule_id)
                if row is None:
                    raise NotFound(f"route rule {rule_id} not found")
                row.update_from_dict(values)
                self._check({"public": row.public, "scopes": row.scopes})
                await row.save()
                entry = await self._audit.record(
                    principal,
                    "route_rule.update",
                    target_type="route_rule",
                    target_id=row.id,
                    tenant_id=None,
                    changes=values,
                )
        except IntegrityError:
            raise Conflict(f"a route rule named {values.get('name')!r} exists") from None
        self._audit.announce(entry)
        await self._changed()
        return row

    async def delete(self, principal: Principal, rule_id: UUID) -> StoredRouteRule:
        """Remove a rule."""
        principal.require_role(SUPER_ADMIN_ONLY, "manage route rules")
        async with in_transaction():
            row = await StoredRouteRule.get_or_none(id=rule_id)
            if row is None:
                raise NotFound(f"route rule {rule_id} not found")
            entry = await self._audit.record(
                principal,
                "route_rule.delete",
                target_type="route_rule",
                target_id=row.id,
                tenant_id=None,
                changes={"name": row.name},
            )
            await row.delete()
        self._audit.announce(entry)
        await self._changed()
        return row

    @staticmethod
    def _check(values: dict[str, Any]) -> None:
        if values["public"] and values["scopes"]:
            raise BadUserInput("a public route needs no key, so it cannot require scopes")
