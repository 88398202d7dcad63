"""Route rules managed through the admin API (rules in code come first)."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class StoredRouteRule(Model):
    """A method + path pattern with its required scopes, cost, extra windows and publicness."""

    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=120, unique=True)
    path = fields.CharField(max_length=500)
    methods: fields.JSONField[list[str]] = fields.JSONField(default=list)
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    cost = fields.IntField(default=1)
    rate_limits: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    public = fields.BooleanField(default=False)
    priority = fields.IntField(default=100)
    """Lower first; the first matching rule wins."""
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "route_rules"
        ordering = ("priority", "created_at", "id")
