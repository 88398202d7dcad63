"""Alerts, alert rules, security events and live metrics."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry

from tollway.alerts.lifecycle import AlertFilter
from tollway.alerts.rules import RuleFields
from tollway.alerts.security import SecurityFilter
from tollway.metering.live import MetricsFilter, live_metrics
from tollway.models import Severity
from tollway.schema.connections import Connection, to_connection
from tollway.schema.context import Info
from tollway.schema.ids import parse_id, parse_optional_id
from tollway.schema.permissions import Allowed
from tollway.schema.types.alerts import (
    Alert,
    AlertFilterInput,
    AlertRule,
    AlertSummary,
    CreateAlertRuleInput,
    MetricPoint,
    SecurityEvent,
    SecurityEventFilterInput,
    SecuritySummary,
    UpdateAlertRuleInput,
)


def _security_filter(f: SecurityEventFilterInput | None) -> SecurityFilter:
    f = f or SecurityEventFilterInput()
    return SecurityFilter(
        tenant_id=parse_optional_id(f.tenant_id, "tenantId"),
        key_id=parse_optional_id(f.key_id, "keyId"), reason=f.reason, client_ip=f.client_ip,
        min_risk=f.min_risk, since=f.since, until=f.until,
    )  # fmt: skip


@strawberry.type
class AlertQuery:
    """Reading alerts, rules and security events."""

    @strawberry.field(permission_classes=[Allowed])
    async def alerts(
        self,
        info: Info,
        filter: AlertFilterInput | None = None,
        *,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Alert]:
        """Newest first, within the caller's tenant (every tenant for SUPER_ADMIN)."""
        f = filter or AlertFilterInput()
        flt = AlertFilter(
            tenant_id=parse_optional_id(f.tenant_id, "tenantId"), status=f.status,
            severity_at_least=f.severity_at_least, kind=f.kind,
            key_id=parse_optional_id(f.key_id, "keyId"), since=f.since,
        )  # fmt: skip
        ctx = info.context
        page = await ctx.services.alerts.list(ctx.principal, flt, first=first, after=after)
        return to_connection(page, Alert.from_model)

    @strawberry.field(permission_classes=[Allowed])
    async def alert(self, info: Info, id: strawberry.ID) -> Alert:
        """One alert."""
        ctx = info.context
        return Alert.from_model(await ctx.services.alerts.get(ctx.principal, parse_id(id)))

    @strawberry.field(permission_classes=[Allowed])
    async def alert_summary(
        self, info: Info, tenant_id: strawberry.ID | None = None
    ) -> AlertSummary:
        """Open and acknowledged alerts per severity."""
        ctx = info.context
        summary = await ctx.services.alerts.summary(
            ctx.principal, parse_optional_id(tenant_id, "tenantId")
        )
        return AlertSummary.from_data(summary)

    @strawberry.field(permission_classes=[Allowed])
    async def alert_rules(
        self, info: Info, tenant_id: strawberry.ID | None = None
    ) -> list[AlertRule]:
        """The tenant's rules and the global ones that apply to it."""
        ctx = info.context
        rows = await ctx.services.alert_rules.visible(
            ctx.principal, parse_optional_id(tenant_id, "tenantId")
        )
        return [AlertRule.from_model(r) for r in rows]

    @strawberry.field(permission_classes=[Allowed])
    async def security_events(
        self,
        info: Info,
        filter: SecurityEventFilterInput | None = None,
        *,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[SecurityEvent]:
        """Denied requests, newest first."""
        ctx = info.context
        page = await ctx.services.security.list(
            ctx.principal, _security_filter(filter), first=first, after=after
        )
        return to_connection(page, SecurityEvent.from_model)

    @strawberry.field(permission_classes=[Allowed])
    async def security_summary(
        self, info: Info, filter: SecurityEventFilterInput | None = None
    ) -> SecuritySummary:
        """Denials by reason, the busiest addresses and key prefixes."""
        ctx = info.context
        summary = await ctx.services.security.summary(ctx.principal, _security_filter(filter))
        return SecuritySummary.from_data(summary)


@strawberry.type
class AlertMutation:
    """Acting on alerts and rules."""

    @strawberry.mutation(permission_classes=[Allowed])
    async def acknowledge_alert(
        self, info: Info, id: strawberry.ID, *, note: str | None = None
    ) -> Alert:
        """OPEN -> ACKNOWLEDGED (who and when are recorded)."""
        ctx = info.context
        alert = await ctx.services.alerts.acknowledge(ctx.principal, parse_id(id), note=note)
        return Alert.from_model(alert)

    @strawberry.mutation(permission_classes=[Allowed])
    async def resolve_alert(
        self, info: Info, id: strawberry.ID, *, note: str | None = None
    ) -> Alert:
        """Close an alert by hand."""
        ctx = info.context
        return Alert.from_model(
            await ctx.services.alerts.resolve(ctx.principal, parse_id(id), note=note)
        )

    @strawberry.mutation(permission_classes=[Allowed])
    async def create_alert_rule(self, info: Info, input: CreateAlertRuleInput) -> AlertRule:
        """A threshold rule for the caller's tenant (or every tenant, for SUPER_ADMIN)."""
        ctx = info.context
        fields = RuleFields(
            name=input.name, metric=input.metric, scope=input.scope, threshold=input.threshold,
            comparator=input.comparator, target=input.target,
            window_seconds=input.window_seconds, min_requests=input.min_requests,
            severity=input.severity, cooldown_seconds=input.cooldown_seconds,
            enabled=input.enabled,
        )  # fmt: skip
        row = await ctx.services.alert_rules.create(
            ctx.principal, parse_optional_id(input.tenant_id, "tenantId"), rule=fields
        )
        return AlertRule.from_model(row)

    @strawberry.mutation(permission_classes=[Allowed])
    async def update_alert_rule(
        self, info: Info, id: strawberry.ID, *, input: UpdateAlertRuleInput
    ) -> AlertRule:
        """Change a rule (enable or disable it, move its threshold…)."""
        changes: dict[str, Any] = {
            k: v for k, v in vars(input).items() if v is not strawberry.UNSET
        }
        ctx = info.context
        row = await ctx.services.alert_rules.update(ctx.principal, parse_id(id), changes=changes)
        return AlertRule.from_model(row)

    @strawberry.mutation(permission_classes=[Allowed])
    async def delete_alert_rule(self, info: Info, id: strawberry.ID) -> AlertRule:
        """Remove a rule; its alerts resolve once their cooldown passes."""
        ctx = info.context
        return AlertRule.from_model(
            await ctx.services.alert_rules.delete(ctx.principal, parse_id(id))
        )


@strawberry.type
class AlertSubscription:
    """Live alerts, security events and traffic, from every instance."""

    @strawberry.subscription(permission_classes=[Allowed])
    async def alerts(
        self,
        info: Info,
        severity_at_least: Severity = Severity.INFO,
        *,
        tenant_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[Alert, None]:
        """Alerts as they open, escalate, are acknowledged and resolve."""
        ctx = info.context
        scope = parse_optional_id(tenant_id, "tenantId")
        async for alert in ctx.services.alerts.live(
            ctx.principal, severity_at_least, tenant_id=scope
        ):
            yield Alert.from_model(alert)

    @strawberry.subscription(permission_classes=[Allowed])
    async def security_events(
        self, info: Info, tenant_id: strawberry.ID | None = None, *, min_risk: int = 0
    ) -> AsyncGenerator[SecurityEvent, None]:
        """Denied requests as they are stored."""
        ctx = info.context
        scope = parse_optional_id(tenant_id, "tenantId")
        async for event in ctx.services.security.live(ctx.principal, scope, min_risk=min_risk):
            yield SecurityEvent.from_model(event)

    @strawberry.subscription(permission_classes=[Allowed])
    async def metrics(
        self,
        info: Info,
        interval_seconds: int = 1,
        *,
        tenant_id: strawberry.ID | None = None,
        key_id: strawberry.ID | None = None,
        route: str | None = None,
    ) -> AsyncGenerator[MetricPoint, None]:
        """One point per interval: requests, allowed, rejected, errors, p50/p99 latency."""
        ctx = info.context
        flt = MetricsFilter(
            interval_seconds=interval_seconds,
            tenant_id=parse_optional_id(tenant_id, "tenantId"),
            key_id=parse_optional_id(key_id, "keyId"), route=route,
        )  # fmt: skip
        async for point in live_metrics(ctx.services.bus, ctx.principal, flt=flt):
            yield MetricPoint.from_data(point)
