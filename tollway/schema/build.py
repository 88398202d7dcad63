"""Assembles the Strawberry schema from per-area roots, with limits and error coding always on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import strawberry
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.tools import merge_types

from tollway.health.metrics import GRAPHQL_LATENCY, GRAPHQL_OPERATIONS
from tollway.resolvers.adjustments import AdjustmentMutation, AdjustmentQuery
from tollway.resolvers.alerts import AlertMutation, AlertQuery, AlertSubscription
from tollway.resolvers.audit import AuditQuery, AuditSubscription
from tollway.resolvers.costs import CostMutation, CostQuery
from tollway.resolvers.health import HealthQuery
from tollway.resolvers.keys import KeyMutation, KeyQuery
from tollway.resolvers.routes import RouteMutation, RouteQuery
from tollway.resolvers.tenants import TenantMutation, TenantQuery
from tollway.resolvers.usage import UsageMutation, UsageQueryRoot
from tollway.resolvers.webhooks import WebhookMutation, WebhookQuery
from tollway.schema.errors import CodedErrors
from tollway.schema.scalars import SCALARS
from tollway.settings import Settings

QUERY_ROOTS: tuple[type, ...] = (
    HealthQuery, TenantQuery, AuditQuery, KeyQuery, AdjustmentQuery, UsageQueryRoot, CostQuery,
    AlertQuery, WebhookQuery, RouteQuery,
)  # fmt: skip
MUTATION_ROOTS: tuple[type, ...] = (
    TenantMutation, KeyMutation, AdjustmentMutation, UsageMutation, CostMutation,
    AlertMutation, WebhookMutation, RouteMutation,
)  # fmt: skip
SUBSCRIPTION_ROOTS: tuple[type, ...] = (AuditSubscription, AlertSubscription)


class OperationMetrics(SchemaExtension):
    """Counts operations and their latency for /metrics."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        ctx = self.execution_context
        kind = ctx.operation_type.value if ctx.graphql_document is not None else "invalid"
        result = ctx.result
        outcome = "error" if result is not None and getattr(result, "errors", None) else "ok"
        GRAPHQL_OPERATIONS.labels(kind, outcome).inc()
        GRAPHQL_LATENCY.labels(kind).observe(time.perf_counter() - started)


def build_schema(settings: Settings) -> strawberry.Schema:
    """The admin schema."""
    extensions: list[Any] = [
        lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        OperationMetrics,
        CodedErrors,
    ]
    return strawberry.Schema(
        query=merge_types("Query", QUERY_ROOTS),
        mutation=merge_types("Mutation", MUTATION_ROOTS),
        subscription=merge_types("Subscription", SUBSCRIPTION_ROOTS),
        extensions=extensions,
        scalar_overrides=SCALARS,
    )
