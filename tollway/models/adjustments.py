"""Time-bounded limit adjustments: boosts, throttles and emergency overrides."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class AdjustmentKind(StrEnum):
    """What an adjustment does to the limits it covers."""

    BOOST = "BOOST"
    THROTTLE = "THROTTLE"
    OVERRIDE = "OVERRIDE"


class AdjustmentScope(StrEnum):
    """Which keys an adjustment covers."""

    KEY = "KEY"
    PLAN = "PLAN"
    TENANT = "TENANT"
    GLOBAL = "GLOBAL"


class LimitAdjustment(Model):
    """A boost or throttle (multiplier) or an override (absolute window) between two times.

    `tenant_id` narrows PLAN and GLOBAL adjustments to one tenant when set.
    """

    id = fields.UUIDField(primary_key=True)
    kind = fields.CharEnumField(AdjustmentKind, max_length=16)
    scope = fields.CharEnumField(AdjustmentScope, max_length=16)
    tenant_id = fields.UUIDField(null=True, db_index=True)
    key_id = fields.UUIDField(null=True, db_index=True)
    plan = fields.CharField(max_length=60, null=True)
    multiplier = fields.FloatField(null=True)
    override_window: Any = fields.JSONField(null=True)
    exempt_key_ids: Any = fields.JSONField(default=list)
    exempt_plans: Any = fields.JSONField(default=list)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField(db_index=True)
    ended_at = fields.DatetimeField(null=True)
    ended_by = fields.CharField(max_length=200, null=True)
    reason = fields.TextField()
    created_by = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "limit_adjustments"
