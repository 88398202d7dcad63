"""Alert rules: tenant-scoped CRUD with validation, and the built-in rules seeded at start.

A rule's tenant limits the data it looks at (no tenant: every tenant, SUPER_ADMIN only);
its scope says how the data is grouped. GLOBAL gives one value; TENANT, KEY, ROUTE and
SERVICE give one value per tenant, key, route or service (or only the one named in
`target`), and each group that crosses the threshold has its own alert.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, fields
from typing import Any
from uuid import UUID, uuid5

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from tollway.audit.service import AuditService
from tollway.auth.principal import READ_ROLES, WRITE_ROLES, Principal
from tollway.errors import BadUserInput, Forbidden, NotFound
from tollway.models import AlertMetric, AlertRule, Comparator, RuleScope, Severity
from tollway.text import clean_text

MAX_WINDOW_SECONDS = 86_400 * 7
MAX_COOLDOWN_SECONDS = 86_400 * 7
MAX_TARGET = 200
BUILTIN_NAMESPACE = UUID("6f1d1c3e-2f0a-4d7e-9a51-5c1e7b0a2d41")


@dataclass(slots=True)
class RuleFields:
    """The editable fields of a rule (creation takes all, updates the ones given)."""

    name: str
    metric: AlertMetric
    scope: RuleScope
    threshold: float
    comparator: Comparator = Comparator.GT
    target: str | None = None
    window_seconds: int = 300
    min_requests: int = 0
    severity: Severity = Severity.WARNING
    cooldown_seconds: int = 300
    enabled: bool = True


BUILTIN_RULES = (
    RuleFields("High error rate", AlertMetric.ERROR_RATE, RuleScope.TENANT, 25.0,
               Comparator.GTE, window_seconds=300, min_requests=50),
    RuleFields("Slow responses (p95)", AlertMetric.P95_LATENCY, RuleScope.TENANT, 2000.0,
               Comparator.GT, window_seconds=300, min_requests=50),
    RuleFields("Authentication failures", AlertMetric.AUTH_FAILURES, RuleScope.GLOBAL, 100.0,
               Comparator.GTE, window_seconds=300),
    RuleFields("Many rejections", AlertMetric.REJECTIONS, RuleScope.TENANT, 1000.0,
               Comparator.GTE, window_seconds=300, severity=Severity.INFO),
)  # fmt: skip
"""On by default, for every tenant; editable and disableable by a SUPER_ADMIN."""


def validate(rule: RuleFields) -> RuleFields:
    """Clean and check every field; BAD_USER_INPUT names the first bad one."""
    rule.name = clean_text(rule.name, "name", maximum=120)
    if not math.isfinite(rule.threshold):
        raise BadUserInput("threshold must be a finite number")
    if rule.threshold < 0:
        raise BadUserInput("threshold must not be negative")
    percent = rule.metric in (AlertMetric.ERROR_RATE, AlertMetric.QUOTA_USE, AlertMetric.BUDGET_USE)
    if percent and rule.threshold > 1000:
        raise BadUserInput(f"threshold: {rule.metric.value} is a percentage")
    if not 10 <= rule.window_seconds <= MAX_WINDOW_SECONDS:
        raise BadUserInput(f"windowSeconds must be between 10 and {MAX_WINDOW_SECONDS}")
    if not 0 <= rule.cooldown_seconds <= MAX_COOLDOWN_SECONDS:
        raise BadUserInput(f"cooldownSeconds must be between 0 and {MAX_COOLDOWN_SECONDS}")
    if rule.min_requests < 0:
        raise BadUserInput("minRequests must not be negative")
    if rule.target is not None:
        rule.target = clean_text(rule.target, "target", maximum=MAX_TARGET, required=False) or None
    if rule.target is not None and rule.scope in (RuleScope.GLOBAL, RuleScope.TENANT):
        raise BadUserInput(f"target: a {rule.scope.value} rule has no target")
    if rule.scope is RuleScope.KEY and rule.target is not None:
        try:
            rule.target = str(UUID(rule.target))
        except ValueError:
            raise BadUserInput("target: a KEY rule's target is an API key id") from None
    return rule


class AlertRuleService:
    """Rules visible to and editable by a principal."""

    def __init__(self, audit: AuditService) -> None:
        self.audit = audit

    async def seed_builtins(self) -> None:
        """Create the built-in rules that do not exist yet; never overwrites edits. Their ids
        derive from their names, so instances starting together create each once."""
        for rule in BUILTIN_RULES:
            rule_id = uuid5(BUILTIN_NAMESPACE, rule.name)
            if await AlertRule.exists(id=rule_id):
                continue
            with contextlib.suppress(IntegrityError):
                await AlertRule.create(id=rule_id, builtin=True, tenant_id=None, **_columns(rule))

    async def visible(self, principal: Principal, tenant_id: UUID | None) -> list[AlertRule]:
        """The principal's tenant's rules and the global ones (which apply to it too)."""
        principal.require_role(READ_ROLES, "read alert rules")
        tenant = principal.scope_tenant(tenant_id)
        if tenant is None:
            return await AlertRule.all()
        return await AlertRule.filter(Q(tenant_id=None) | Q(tenant_id=tenant))

    async def create(
        self, principal: Principal, tenant_id: UUID | None, *, rule: RuleFields
    ) -> AlertRule:
        """A rule of `tenant_id` (None: every tenant, SUPER_ADMIN only)."""
        principal.require_role(WRITE_ROLES, "create alert rules")
        tenant = principal.require_tenant(tenant_id) if tenant_id else principal.scope_tenant(None)
        row = await AlertRule.create(tenant_id=tenant, **_columns(validate(rule)))
        await self._audit(principal, "alert_rule.created", row, _columns(rule))
        return row

    async def update(
        self, principal: Principal, rule_id: UUID, *, changes: dict[str, Any]
    ) -> AlertRule:
        """Change the given fields; a global rule needs a SUPER_ADMIN."""
        row = await self._editable(principal, rule_id)
        current = RuleFields(**{f.name: getattr(row, f.name) for f in fields(RuleFields)})
        unknown = set(changes) - {f.name for f in fields(RuleFields)}
        if unknown:
            raise BadUserInput(f"unknown fields: {sorted(unknown)}")
        for name, value in changes.items():
            if value is None and name != "target":
                raise BadUserInput(f"{name} must not be null")
            setattr(current, name, value)
        row.update_from_dict(_columns(validate(current)))
        await row.save()
        await self._audit(principal, "alert_rule.updated", row, changes)
        return row

    async def delete(self, principal: Principal, rule_id: UUID) -> AlertRule:
        """Remove a rule (its alerts stay, with their history)."""
        row = await self._editable(principal, rule_id)
        await row.delete()
        await self._audit(principal, "alert_rule.deleted", row, {})
        return row

    async def _editable(self, principal: Principal, rule_id: UUID) -> AlertRule:
        principal.require_role(WRITE_ROLES, "change alert rules")
        row = await AlertRule.get_or_none(id=rule_id)
        if row is None or not (principal.sees(row.tenant_id) or row.tenant_id is None):
            raise NotFound(f"alert rule {rule_id} not found")
        if row.tenant_id is None and not principal.is_super_admin:
            raise Forbidden("only a SUPER_ADMIN may change a global alert rule")
        return row

    async def _audit(
        self, principal: Principal, action: str, row: AlertRule, changes: dict[str, Any]
    ) -> None:
        entry = await self.audit.record(
            principal,
            action,
            target_type="alert_rule",
            target_id=row.id,
            tenant_id=row.tenant_id,
            changes=changes,
        )
        self.audit.announce(entry)


def _columns(rule: RuleFields) -> dict[str, Any]:
    return {f.name: getattr(rule, f.name) for f in fields(RuleFields)}
