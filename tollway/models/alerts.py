"""Alert rules, alerts, learned baselines and once-only job claims."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Severity(StrEnum):
    """Alert severities, lowest first."""

    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class AlertStatus(StrEnum):
    """OPEN -> ACKNOWLEDGED -> RESOLVED."""

    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"


class AlertMetric(StrEnum):
    """What a threshold rule measures over its window."""

    REQUEST_RATE = "REQUEST_RATE"
    ERROR_RATE = "ERROR_RATE"
    P95_LATENCY = "P95_LATENCY"
    REJECTIONS = "REJECTIONS"
    QUOTA_USE = "QUOTA_USE"
    BUDGET_USE = "BUDGET_USE"
    AUTH_FAILURES = "AUTH_FAILURES"
    COST = "COST"


class RuleScope(StrEnum):
    """What a rule watches: everything, a tenant, or one key, route or service of it."""

    GLOBAL = "GLOBAL"
    TENANT = "TENANT"
    KEY = "KEY"
    ROUTE = "ROUTE"
    SERVICE = "SERVICE"


class Comparator(StrEnum):
    """How the measured value is compared with the threshold."""

    GT = "GT"
    GTE = "GTE"
    LT = "LT"
    LTE = "LTE"


class AlertRule(Model):
    """A threshold on a metric over a window, for a scope."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.UUIDField(null=True, db_index=True)
    name = fields.CharField(max_length=120)
    metric = fields.CharEnumField(AlertMetric, max_length=20)
    scope = fields.CharEnumField(RuleScope, max_length=10)
    target = fields.CharField(max_length=200, null=True)
    """The key id, route template or service name a KEY/ROUTE/SERVICE rule watches."""
    comparator = fields.CharEnumField(Comparator, max_length=4, default=Comparator.GT)
    threshold = fields.FloatField()
    window_seconds = fields.IntField(default=300)
    min_requests = fields.IntField(default=0)
    """Rate and latency metrics are not judged on fewer requests than this."""
    severity = fields.CharEnumField(Severity, max_length=10, default=Severity.WARNING)
    cooldown_seconds = fields.IntField(default=300)
    enabled = fields.BooleanField(default=True)
    builtin = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "alert_rules"
        ordering = ("created_at", "id")


class Alert(Model):
    """One condition that held: opened once, counted while it recurs, resolved once clear.

    `open_key` is the deduplication key while the alert is OPEN or ACKNOWLEDGED and NULL once
    RESOLVED; its unique index keeps one open alert per rule (or detector) and subject.
    """

    id = fields.UUIDField(primary_key=True)
    open_key = fields.CharField(max_length=300, null=True, unique=True)
    source = fields.CharField(max_length=60)
    """`rule:<id>` or the detector's name."""
    rule_id = fields.UUIDField(null=True)
    kind = fields.CharField(max_length=40)
    subject = fields.CharField(max_length=250)
    tenant_id = fields.UUIDField(null=True)
    key_id = fields.UUIDField(null=True)
    severity = fields.CharEnumField(Severity, max_length=10)
    status = fields.CharEnumField(AlertStatus, max_length=12, default=AlertStatus.OPEN)
    message = fields.TextField()
    value = fields.FloatField(null=True)
    threshold = fields.FloatField(null=True)
    occurrences = fields.IntField(default=1)
    cooldown_seconds = fields.IntField(default=300)
    opened_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    cleared_at = fields.DatetimeField(null=True)
    """When the condition was last seen not to hold (NULL while it holds)."""
    acknowledged_at = fields.DatetimeField(null=True)
    acknowledged_by = fields.CharField(max_length=200, null=True)
    acknowledgement_note: str | None = fields.TextField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    resolved_by = fields.CharField(max_length=200, null=True)

    class Meta:
        table = "alerts"
        ordering = ("-opened_at", "id")
        indexes = (("tenant_id", "status", "opened_at"), ("status", "source"))


class DetectorBaseline(Model):
    """What a detector learned about one subject: an exponentially weighted mean and
    variance of a per-interval value, per hour of the day (so daily cycles are expected)."""

    id = fields.BigIntField(primary_key=True, generated=True)
    detector = fields.CharField(max_length=40)
    subject = fields.CharField(max_length=250)
    slot = fields.SmallIntField()
    """Hour of the day (0-23), or -1 for the all-day baseline used during cold start."""
    mean = fields.FloatField(default=0.0)
    variance = fields.FloatField(default=0.0)
    observations = fields.IntField(default=0)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "detector_baselines"
        unique_together = (("detector", "subject", "slot"),)


class JobClaim(Model):
    """A job's run for one tick, claimed by exactly one instance (insert wins)."""

    id = fields.BigIntField(primary_key=True, generated=True)
    job = fields.CharField(max_length=40)
    tick = fields.BigIntField()
    holder = fields.CharField(max_length=200)
    claimed_at = fields.DatetimeField()

    class Meta:
        table = "job_claims"
        unique_together = (("job", "tick"),)
