"""Who may read the schema: introspection (`__schema`, `__type`) is open to every client,
to authenticated principals only (the default), or to nobody
(`TOLLWAY_GRAPHQL_INTROSPECTION`), and is held to a depth limit of its own, since the
general depth limit does not count introspection fields."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension

from tollway.auth.principal import Principal
from tollway.errors import BadUserInput, TollwayError, Unauthenticated

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


class IntrospectionMode(StrEnum):
    """`TOLLWAY_GRAPHQL_INTROSPECTION`."""

    AUTHENTICATED = "authenticated"
    PUBLIC = "public"
    OFF = "off"


def is_authenticated(context: object) -> bool:
    """True when the operation's context holds a principal, not an authentication error."""
    return isinstance(getattr(context, "principal_or_error", None), Principal)


def introspection_depth(document: DocumentNode) -> int | None:
    """The deepest selection under an introspection field (None: the operation has none)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    deepest: int | None = None
    stack: list[tuple[SelectionSetNode, int | None, frozenset[str]]] = [
        (d.selection_set, None, frozenset())
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    ]
    while stack:
        selections, depth, seen = stack.pop()
        for node in selections.selections:
            if isinstance(node, FragmentSpreadNode):
                name = node.name.value
                if name in fragments and name not in seen:
                    stack.append((fragments[name].selection_set, depth, seen | {name}))
                continue
            inner = depth
            if isinstance(node, FieldNode):
                if inner is None and node.name.value in INTROSPECTION_FIELDS:
                    inner = 0
                if inner is not None:
                    inner += 1
                    deepest = max(deepest or 0, inner)
            inner_set = getattr(node, "selection_set", None)
            if inner_set is not None:
                stack.append((inner_set, inner, seen))
    return deepest


class IntrospectionPolicy(SchemaExtension):
    """Refuses introspection the mode does not allow, or nested past `max_depth`."""

    def __init__(self, mode: IntrospectionMode, max_depth: int) -> None:
        self.mode = mode
        self.max_depth = max_depth

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        depth = None if ctx.graphql_document is None else introspection_depth(ctx.graphql_document)
        refusal: TollwayError | None = None
        if depth is None:
            pass
        elif self.mode is IntrospectionMode.OFF:
            refusal = BadUserInput("introspection is off (TOLLWAY_GRAPHQL_INTROSPECTION=off)")
        elif self.mode is IntrospectionMode.AUTHENTICATED and not is_authenticated(ctx.context):
            refusal = Unauthenticated("introspection needs an admin token")
        elif depth > self.max_depth:
            refusal = BadUserInput(f"introspection nested deeper than {self.max_depth} levels")
        if refusal is not None:
            ctx.pre_execution_errors = [GraphQLError(refusal.message, original_error=refusal)]
        yield
