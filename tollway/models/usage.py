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
