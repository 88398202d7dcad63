"""Raw usage events: one per request through the middleware, or reported by a service."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class UsageEvent(Model):
    """One request (or one reported outbound call). `event_id` makes writes idempotent."""

    id = fields.BigIntField(primary_key=True)
    event_id = fields.UUIDField(unique=True)
    at = fields.DatetimeField(db_index=True)
    tenant_id = fields.UUIDField(null=True)
    key_id = fields.UUIDField(null=True)
    method = fields.CharField(max_length=10)
    route = fields.CharField(max_length=200)
    path = fields.CharField(max_length=2000)
    status = fields.SmallIntField()
    error_code = fields.CharField(max_length=40, null=True)
    latency_ms = fields.FloatField()
    request_bytes = fields.BigIntField(default=0)
    response_bytes = fields.BigIntField(default=0)
    client_ip = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=300, null=True)
    api_version = fields.CharField(max_length=40, null=True)
    cost_units = fields.IntField(default=1)
    service = fields.CharField(max_length=100, null=True)
    units = fields.BigIntField(default=1)
    unit_type = fields.CharField(max_length=32, default="requests")
    cost = fields.DecimalField(max_digits=18, decimal_places=6, null=True)

    class Meta:
        table = "usage_events"
        indexes = (("tenant_id", "at"), ("key_id", "at"))


class UsageRollup(Model):
    """Usage summed per bucket (minute, hour, day), cube and group of dimensions.

    Dimensions a cube does not hold, and missing values, are stored empty ('' or 0) so that
    the unique index identifies a group. The latency sketch is a JSON map of bin to count.
    """

    id = fields.BigIntField(primary_key=True)
    granularity = fields.CharField(max_length=6)
    cube = fields.CharField(max_length=10)
    bucket = fields.DatetimeField()
    tenant_id = fields.CharField(max_length=36, default="")
    key_id = fields.CharField(max_length=36, default="")
    route = fields.CharField(max_length=200, default="")
    method = fields.CharField(max_length=10, default="")
    status_class = fields.SmallIntField(default=0)
    error_code = fields.CharField(max_length=40, default="")
    api_version = fields.CharField(max_length=40, default="")
    service = fields.CharField(max_length=100, default="")
    unit_type = fields.CharField(max_length=32, default="")
    requests = fields.BigIntField(default=0)
    errors = fields.BigIntField(default=0)
    server_errors = fields.BigIntField(default=0)
    rejected = fields.BigIntField(default=0)
    request_bytes = fields.BigIntField(default=0)
    response_bytes = fields.BigIntField(default=0)
    units = fields.BigIntField(default=0)
    unpriced_units = fields.BigIntField(default=0)
    cost_units = fields.BigIntField(default=0)
    reported_cost_micros = fields.BigIntField(default=0)
    latency_count = fields.BigIntField(default=0)
    admitted_cost_units = fields.BigIntField(default=0)
    latency_sum = fields.FloatField(default=0)
    sketch = fields.TextField(default="{}")

    class Meta:
        table = "usage_rollups"
        unique_together = (
            (
                "granularity", "cube", "bucket", "tenant_id", "key_id", "route", "method",
                "status_class", "error_code", "api_version", "service", "unit_type",
            ),
        )  # fmt: skip
        indexes = (("granularity", "cube", "tenant_id", "bucket"),)


class RollupCursor(Model):
    """How far rollups are complete: every minute before `watermark` is rolled up."""

    name = fields.CharField(max_length=40, primary_key=True)
    watermark = fields.DatetimeField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "rollup_cursors"


class UsageDirtyMinute(Model):
    """A minute that received events after it was rolled up (a replay, a late report).

    Written in the same transaction as the events, consumed by the rollup job.
    """

    id = fields.BigIntField(primary_key=True)
    minute = fields.DatetimeField()

    class Meta:
        table = "usage_dirty_minutes"
