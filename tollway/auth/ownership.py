"""Whose an id is: the check behind "another tenant's id is FORBIDDEN, an unknown id NOT_FOUND".

An id is looked up in its own table first. An object that was deleted is still known by its
audit entries (every create is audited with its tenant, in the same transaction), so a tenant
can keep reading the usage, alerts and history of its deleted key, and nobody else can.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from uuid import UUID

from tortoise.models import Model

from tollway.auth.principal import Principal
from tollway.errors import BadUserInput, Forbidden, NotFound
from tollway.models import (
    Alert,
    AlertRule,
    ApiKey,
    AuditEntry,
    Budget,
    Integration,
    LimitAdjustment,
    StoredRouteRule,
    Tenant,
    WebhookEndpoint,
    WebhookMessage,
)


class IdKind(StrEnum):
    """What an id argument names; the value is the audit log's target type."""

    TENANT = "tenant"
    API_KEY = "api_key"
    LIMIT_ADJUSTMENT = "limit_adjustment"
    BUDGET = "budget"
    ALERT = "alert"
    ALERT_RULE = "alert_rule"
    WEBHOOK_ENDPOINT = "webhook_endpoint"
    WEBHOOK_MESSAGE = "webhook_message"
    ROUTE_RULE = "route_rule"
    INTEGRATION = "integration"
    AUDIT_TARGET = "audit_target"
    """Any object the audit log has entries for (the `targetId` filter)."""
    CLIENT = "client"
    """Chosen by the client (`ownerId`, `eventId`): not a Tollway id, nothing to check."""

    @property
    def label(self) -> str:
        """How messages name the kind ("API key", "webhook endpoint")."""
        return "API key" if self is IdKind.API_KEY else self.value.replace("_", " ")


_TABLES: dict[IdKind, type[Model]] = {
    IdKind.API_KEY: ApiKey,
    IdKind.LIMIT_ADJUSTMENT: LimitAdjustment,
    IdKind.BUDGET: Budget,
    IdKind.ALERT: Alert,
    IdKind.ALERT_RULE: AlertRule,
    IdKind.WEBHOOK_ENDPOINT: WebhookEndpoint,
    IdKind.WEBHOOK_MESSAGE: WebhookMessage,
    IdKind.INTEGRATION: Integration,
}
_SHARED_WHEN_GLOBAL = frozenset({IdKind.ALERT_RULE, IdKind.LIMIT_ADJUSTMENT, IdKind.ROUTE_RULE})
"""Kinds whose objects of no tenant apply to, and are read by, every tenant."""


@dataclass(frozen=True, slots=True)
class IdRef:
    """One id found in a request's arguments: what it names and where it was given."""

    kind: IdKind
    value: str
    argument: str
    """Its path in the arguments, for messages: `filter.apiKeyId`, `events[3].apiKeyId`."""


@dataclass(slots=True)
class Ownership:
    """Checks ids against a principal; one per request, so each id is looked up once."""

    principal: Principal
    _owners: dict[tuple[IdKind, str], frozenset[UUID] | None] = field(default_factory=dict)

    async def check(self, refs: Sequence[IdRef]) -> None:
        """FORBIDDEN for another tenant's id, NOT_FOUND for an id that exists nowhere.

        The owners of every id are looked up together, one query per kind."""
        refs = [_canonical(r) for r in refs if r.kind is not IdKind.CLIENT]
        await self._load(refs)
        for ref in refs:
            owners = self._owners[(ref.kind, ref.value)]
            if owners is None:
                raise NotFound(f"{ref.argument}: {ref.kind.label} {ref.value} not found")
            if not self._may_see(ref.kind, owners):
                raise Forbidden(
                    f"{ref.argument}: this token may not access another tenant's {ref.kind.label}"
                )

    def _may_see(self, kind: IdKind, owners: frozenset[UUID]) -> bool:
        if self.principal.is_super_admin:
            return True
        if not owners:
            return kind in _SHARED_WHEN_GLOBAL
        return self.principal.tenant_id in owners

    async def _load(self, refs: Sequence[IdRef]) -> None:
        wanted: dict[IdKind, set[str]] = defaultdict(set)
        for ref in refs:
            if (ref.kind, ref.value) not in self._owners:
                wanted[ref.kind].add(ref.value)
        for kind, values in wanted.items():
            found = await _owners_in_table(kind, values)
            missing = values - found.keys()
            if missing:
                found.update(await _owners_in_audit(kind, missing))
            for value in values:
                self._owners[(kind, value)] = found.get(value)


def _canonical(ref: IdRef) -> IdRef:
    """The id as stored (a lower-case UUID), or BAD_USER_INPUT when it is none."""
    if ref.kind is IdKind.AUDIT_TARGET:
        return ref
    try:
        return replace(ref, value=str(UUID(ref.value)))
    except ValueError:
        raise BadUserInput(f"{ref.argument} is not a valid ID: {ref.value[:100]!r}") from None


async def _owners_in_table(kind: IdKind, values: set[str]) -> dict[str, frozenset[UUID]]:
    if kind is IdKind.AUDIT_TARGET:
        return {}
    if kind is IdKind.TENANT:
        ids = await Tenant.filter(id__in=values).values_list("id", flat=True)
        return {str(i): frozenset({UUID(str(i))}) for i in ids}
    if kind is IdKind.ROUTE_RULE:
        ids = await StoredRouteRule.filter(id__in=values).values_list("id", flat=True)
        return {str(i): frozenset() for i in ids}
    rows = await _TABLES[kind].filter(id__in=values).values_list("id", "tenant_id")
    return {str(i): _tenants([t]) for i, t in rows}


async def _owners_in_audit(kind: IdKind, values: set[str]) -> dict[str, frozenset[UUID]]:
    query = AuditEntry.filter(target_id__in=values)
    if kind is not IdKind.AUDIT_TARGET:
        query = query.filter(target_type=kind.value)
    by_target: dict[str, list[object]] = defaultdict(list)
    for target, tenant in await query.distinct().values_list("target_id", "tenant_id"):
        by_target[str(target)].append(tenant)
    return {target: _tenants(tenants) for target, tenants in by_target.items()}


def _tenants(values: Iterable[object]) -> frozenset[UUID]:
    return frozenset(UUID(str(v)) for v in values if v is not None)
