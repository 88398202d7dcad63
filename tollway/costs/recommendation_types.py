"""What a recommendation is: its kind, severity, and the evidence behind it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from uuid import UUID


class RecommendationKind(StrEnum):
    """What a recommendation is about."""

    KEY_NEAR_QUOTA = "KEY_NEAR_QUOTA"
    FAILING_ROUTE_SPEND = "FAILING_ROUTE_SPEND"
    TOP_COST_DRIVER = "TOP_COST_DRIVER"
    UNUSED_KEY = "UNUSED_KEY"
    LIMIT_ABOVE_PEAK = "LIMIT_ABOVE_PEAK"


class RecommendationSeverity(StrEnum):
    """How urgent acting on a recommendation is."""

    CRITICAL = "CRITICAL"
    WARNING = "WARNING"
    INFO = "INFO"


SEVERITY_ORDER = {s: i for i, s in enumerate(RecommendationSeverity)}
KIND_ORDER = {k: i for i, k in enumerate(RecommendationKind)}
"""Recommendations are listed by severity, then in the order of the kinds."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """One fact behind a recommendation, as a name and a display value."""

    name: str
    value: str


@dataclass(slots=True)
class Recommendation:
    """Something worth doing, why, and what it is about."""

    kind: RecommendationKind
    severity: RecommendationSeverity
    title: str
    action: str
    evidence: list[Evidence]
    tenant_id: UUID | None = None
    key_id: UUID | None = None
    route: str | None = None
    service: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
