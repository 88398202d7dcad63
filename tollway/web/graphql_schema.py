"""Assembles the Strawberry schema from per-area roots, with limits and error coding always on."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from tollway.health.metrics import GRAPHQL_LATENCY, GRAPHQL_OPERATIONS
from tollway.resolvers.adjustments import AdjustmentMutation, AdjustmentQuery
from tollway.resolvers.alerts import AlertMutation, AlertQuery, AlertSubscription
from tollway.resolvers.audit import AuditQuery, AuditSubscription
from tollway.resolvers.costs import CostMutation, CostQuery
from tollway.resolvers.health import HealthQuery
from tollway.resolvers.integrations import (
    IntegrationMutation,
    IntegrationQuery,
    IntegrationSubscription,
)
from tollway.resolvers.keyring import KeyringMutation
from tollway.resolvers.keys import KeyMutation, KeyQuery
from tollway.resolvers.routes import RouteMutation, RouteQuery
from tollway.resolvers.tenants import TenantMutation, TenantQuery
from tollway.resolvers.usage import UsageMutation, UsageQueryRoot
from tollway.resolvers.webhooks import WebhookMutation, WebhookQuery
from tollway.schema.errors import CodedErrors
from tollway.schema.inputs import InvalidInput, check_document, check_value
from tollway.schema.introspection import IntrospectionMode, IntrospectionPolicy
from tollway.schema.scalars import SCALARS
from tollway.settings import Settings

logger = logging.getLogger("tollway.graphql")

QUERY_ROOTS: tuple[type, ...] = (
    HealthQuery, TenantQuery, AuditQuery, KeyQuery, AdjustmentQuery, UsageQueryRoot, CostQuery,
    AlertQuery, WebhookQuery, RouteQuery, IntegrationQuery,
)  # fmt: skip
MUTATION_ROOTS: tuple[type, ...] = (
    TenantMutation, KeyMutation, AdjustmentMutation, UsageMutation, CostMutation,
    AlertMutation, WebhookMutation, RouteMutation, KeyringMutation, IntegrationMutation,
)  # fmt: skip
SUBSCRIPTION_ROOTS: tuple[type, ...] = (
    AuditSubscription,
    AlertSubscription,
    IntegrationSubscription,
)


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


class InputGuard(SchemaExtension):
    """Every string and nested value of an operation, literals and variables (over HTTP and
    websockets alike), is something the database can store (`schema/inputs.py`)."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.operation_type is OperationType.SUBSCRIPTION and not isinstance(
            getattr(ctx.context, "request", None), WebSocket
        ):
            raise InvalidOperationTypeError(OperationType.SUBSCRIPTION)  # answered 405
        try:
            if ctx.graphql_document is not None:
                check_document(ctx.graphql_document, self.max_depth)
            if ctx.variables:
                check_value(ctx.variables, self.max_depth, where="the variables")
        except InvalidInput as exc:
            # Set before validation runs, so that it is skipped and this is the answer.
            ctx.pre_execution_errors = [GraphQLError(exc.message)]
        yield


class AdminSchema(strawberry.Schema):
    """The schema, logging the client's errors at DEBUG: they are answered with their code,
    and what failed unexpectedly is logged (with its traceback) where it is masked."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            logger.debug("GraphQL error in %s: %s", error.path, error.message)


def build_schema(settings: Settings) -> strawberry.Schema:
    """The admin schema."""
    extensions: list[Any] = [
        lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        lambda: InputGuard(settings.graphql_max_input_depth),
        lambda: IntrospectionPolicy(
            IntrospectionMode(settings.graphql_introspection),
            settings.graphql_max_introspection_depth,
        ),
        OperationMetrics,
        lambda: CodedErrors(IntrospectionMode(settings.graphql_introspection)),
    ]
    return AdminSchema(
        query=merge_types("Query", QUERY_ROOTS),
        mutation=merge_types("Mutation", MUTATION_ROOTS),
        subscription=merge_types("Subscription", SUBSCRIPTION_ROOTS),
        extensions=extensions,
        scalar_overrides=SCALARS,
    )
