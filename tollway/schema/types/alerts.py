"""Alert, alert rule, security event and live metric types."""

from __future__ import annotations

from datetime import datetime

import strawberry

from tollway.alerts.lifecycle import AlertSummary as AlertSummaryData
from tollway.alerts.security import SecuritySummary as SecuritySummaryData
from tollway.metering.live import MetricPoint as MetricPointData
from tollway.models import Alert as AlertModel
from tollway.models import AlertMetric, AlertStatus, Comparator, RuleScope, Severity
from tollway.models import AlertRule as AlertRuleModel
from tollway.models import SecurityEvent as SecurityEventModel

strawberry.enum(Severity)
strawberry.enum(AlertStatus)
strawberry.enum(AlertMetric)
strawberry.enum(RuleScope)
strawberry.enum(Comparator)


def _id(value: object) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


@strawberry.type
class Alert:
    """A condition that held: opened once, counted while it recurs."""

    id: strawberry.ID
    kind: str
    source: str
    subject: str
    severity: Severity
    status: AlertStatus
    message: str
    tenant_id: strawberry.ID | None
    key_id: strawberry.ID | None
    rule_id: strawberry.ID | None
    value: float | None
    threshold: float | None
    occurrences: int = strawberry.field(
        description="Distinct threshold crossings while open: the first, each one after the "
        "condition had cleared, and each escalation (not every evaluation that saw it)."
    )
    opened_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledgement_note: str | None
    resolved_at: datetime | None
    resolved_by: str | None

    @classmethod
    def from_model(cls, a: AlertModel) -> Alert:
        """From the stored (or published) alert."""
        return cls(
            id=strawberry.ID(str(a.id)), kind=a.kind, source=a.source, subject=a.subject,
            severity=a.severity, status=a.status, message=a.message,
            tenant_id=_id(a.tenant_id), key_id=_id(a.key_id), rule_id=_id(a.rule_id),
            value=a.value, threshold=a.threshold, occurrences=a.occurrences,
            opened_at=a.opened_at, last_seen_at=a.last_seen_at,
            acknowledged_at=a.acknowledged_at, acknowledged_by=a.acknowledged_by,
            acknowledgement_note=a.acknowledgement_note, resolved_at=a.resolved_at,
            resolved_by=a.resolved_by,
        )  # fmt: skip


@strawberry.input
class AlertFilterInput:
    """Filters of `alerts`."""

    tenant_id: strawberry.ID | None = None
    status: AlertStatus | None = None
    severity_at_least: Severity | None = None
    kind: str | None = None
    key_id: strawberry.ID | None = None
    since: datetime | None = None


@strawberry.type
class SeverityCount:
    """Alerts of one severity."""

    severity: Severity
    count: int


@strawberry.type
class AlertSummary:
    """Open and acknowledged alerts per severity."""

    open: list[SeverityCount]
    acknowledged: list[SeverityCount]
    total_open: int
    resolved_last_24h: int

    @classmethod
    def from_data(cls, s: AlertSummaryData) -> AlertSummary:
        """From the computed summary."""
        return cls(
            open=[SeverityCount(severity=k, count=v) for k, v in s.open.items()],
            acknowledged=[SeverityCount(severity=k, count=v) for k, v in s.acknowledged.items()],
            total_open=sum(s.open.values()) + sum(s.acknowledged.values()),
            resolved_last_24h=s.resolved_last_24h,
        )


@strawberry.type
class AlertRule:
    """A threshold on a metric over a window, for a scope."""

    id: strawberry.ID
    tenant_id: strawberry.ID | None
    name: str
    metric: AlertMetric
    scope: RuleScope
    target: str | None
    comparator: Comparator
    threshold: float
    window_seconds: int
    min_requests: int
    severity: Severity
    cooldown_seconds: int
    enabled: bool
    builtin: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, r: AlertRuleModel) -> AlertRule:
        """From the stored rule."""
        return cls(
            id=strawberry.ID(str(r.id)), tenant_id=_id(r.tenant_id), name=r.name,
            metric=r.metric, scope=r.scope, target=r.target, comparator=r.comparator,
            threshold=r.threshold, window_seconds=r.window_seconds, min_requests=r.min_requests,
            severity=r.severity, cooldown_seconds=r.cooldown_seconds, enabled=r.enabled,
            builtin=r.builtin, created_at=r.created_at, updated_at=r.updated_at,
        )  # fmt: skip


@strawberry.input
class CreateAlertRuleInput:
    """A new rule; without `tenantId` a tenant-bound caller creates it for its tenant."""

    name: str
    metric: AlertMetric
    scope: RuleScope
    threshold: float
    tenant_id: strawberry.ID | None = None
    comparator: Comparator = Comparator.GT
    target: str | None = None
    window_seconds: int = 300
    min_requests: int = 0
    severity: Severity = Severity.WARNING
    cooldown_seconds: int = 300
    enabled: bool = True


@strawberry.input
class UpdateAlertRuleInput:
    """Fields to change; those left out stay."""

    name: str | None = strawberry.UNSET
    threshold: float | None = strawberry.UNSET
    comparator: Comparator | None = strawberry.UNSET
    target: str | None = strawberry.UNSET
    window_seconds: int | None = strawberry.UNSET
    min_requests: int | None = strawberry.UNSET
    severity: Severity | None = strawberry.UNSET
    cooldown_seconds: int | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET


@strawberry.type
class SecurityEvent:
    """A denied request: who, from where, why, and how risky it looks (0-100)."""

    id: strawberry.ID
    at: datetime
    reason: str
    risk_score: int
    client_ip: str | None
    tenant_id: strawberry.ID | None
    key_id: strawberry.ID | None
    key_prefix: str | None
    method: str
    path: str
    user_agent: str | None

    @classmethod
    def from_model(cls, e: SecurityEventModel) -> SecurityEvent:
        """From the stored (or published) event."""
        return cls(
            id=strawberry.ID(str(e.id)), at=e.at, reason=e.reason, risk_score=e.risk_score,
            client_ip=e.client_ip, tenant_id=_id(e.tenant_id), key_id=_id(e.key_id),
            key_prefix=e.key_prefix, method=e.method, path=e.path, user_agent=e.user_agent,
        )  # fmt: skip


@strawberry.input
class SecurityEventFilterInput:
    """Filters of `securityEvents` and `securitySummary`."""

    tenant_id: strawberry.ID | None = None
    key_id: strawberry.ID | None = None
    reason: str | None = None
    client_ip: str | None = None
    min_risk: int = 0
    since: datetime | None = None
    until: datetime | None = None


@strawberry.type
class CountOf:
    """A value and how often it occurred."""

    value: str
    count: int


@strawberry.type
class SecuritySummary:
    """Denials: totals, by reason, the busiest addresses and key prefixes."""

    total: int
    high_risk: int
    by_reason: list[CountOf]
    top_addresses: list[CountOf]
    top_key_prefixes: list[CountOf]

    @classmethod
    def from_data(cls, s: SecuritySummaryData) -> SecuritySummary:
        """From the computed summary."""
        return cls(
            total=s.total, high_risk=s.high_risk,
            by_reason=[CountOf(value=v, count=c) for v, c in s.by_reason],
            top_addresses=[CountOf(value=v, count=c) for v, c in s.top_addresses],
            top_key_prefixes=[CountOf(value=v, count=c) for v, c in s.top_key_prefixes],
        )  # fmt: skip


@strawberry.type
class MetricPoint:
    """Live traffic of one interval, merged across every instance."""

    at: datetime
    requests: int
    allowed: int
    rejected: int
    errors: int
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    p99_latency_ms: float | None

    @classmethod
    def from_data(cls, p: MetricPointData) -> MetricPoint:
        """From a merged point."""
        p50, p95, p99 = p.percentiles
        return cls(
            at=p.at, requests=p.requests, allowed=p.allowed, rejected=p.rejected,
            errors=p.errors, p50_latency_ms=p50, p95_latency_ms=p95, p99_latency_ms=p99,
        )  # fmt: skip
