"""Metered services, their versioned price rates, budgets and the threshold events budgets raise."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class BudgetScope(StrEnum):
    """What a budget covers."""

    GLOBAL = "GLOBAL"
    TENANT = "TENANT"
    SERVICE = "SERVICE"


class BudgetPeriod(StrEnum):
    """Calendar periods (UTC) a budget resets on."""

    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


class MeteredService(Model):
    """Something whose usage is counted and priced: the own API (`api`) or a third party."""

    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    description = fields.CharField(max_length=500, default="")
    unit_type = fields.CharField(max_length=32, default="requests")
    currency = fields.CharField(max_length=3, default="USD")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "metered_services"


class PriceRate(Model):
    """One version of a price: per unit of a service, optionally only for one route or plan.

    A rate applies from `effective_from` (a UTC day) until the next version of the same
    service, route and plan. `tiers` (graduated, per calendar month and tenant) replace
    `unit_price` when present: a list of {"up_to": units or null, "unit_price": "decimal"}.
    """

    id = fields.UUIDField(primary_key=True)
    service = fields.CharField(max_length=100, db_index=True)
    route = fields.CharField(max_length=200, null=True)
    plan = fields.CharField(max_length=64, null=True)
    unit_price = fields.DecimalField(max_digits=24, decimal_places=12)
    currency = fields.CharField(max_length=3)
    tiers: Any = fields.JSONField(default=list)
    effective_from = fields.DateField()
    created_at = fields.DatetimeField(auto_now_add=True)
    created_by = fields.CharField(max_length=200, default="")

    class Meta:
        table = "price_rates"
        unique_together = (("service", "route", "plan", "effective_from"),)


class Budget(Model):
    """A spending limit for a scope and period, with alert thresholds in percent."""

    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=200)
    scope = fields.CharEnumField(BudgetScope, max_length=10)
    tenant_id = fields.UUIDField(null=True, db_index=True)
    service = fields.CharField(max_length=100, null=True)
    period = fields.CharEnumField(BudgetPeriod, max_length=10)
    amount = fields.DecimalField(max_digits=20, decimal_places=6)
    currency = fields.CharField(max_length=3)
    thresholds: Any = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "budgets"


class BudgetEvent(Model):
    """A threshold crossed, recorded once per budget, period and threshold."""

    id = fields.UUIDField(primary_key=True)
    budget_id = fields.UUIDField(db_index=True)
    tenant_id = fields.UUIDField(null=True)
    period_start = fields.DatetimeField()
    threshold = fields.IntField()
    spend = fields.DecimalField(max_digits=20, decimal_places=6)
    amount = fields.DecimalField(max_digits=20, decimal_places=6)
    currency = fields.CharField(max_length=3)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "budget_events"
        unique_together = (("budget_id", "period_start", "threshold"),)
