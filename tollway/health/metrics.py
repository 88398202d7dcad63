"""Prometheus metrics (exposed at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

GRAPHQL_OPERATIONS = Counter(
    "tollway_graphql_operations_total",
    "GraphQL operations executed by the admin API",
    ["operation_type", "outcome"],
)
GRAPHQL_ERRORS = Counter(
    "tollway_graphql_errors_total", "GraphQL errors returned, by extensions.code", ["code"]
)
GRAPHQL_LATENCY = Histogram(
    "tollway_graphql_operation_seconds", "GraphQL operation latency", ["operation_type"]
)
COMPONENT_UP = Gauge(
    "tollway_component_up", "1 when a dependency answered its last readiness check", ["component"]
)
