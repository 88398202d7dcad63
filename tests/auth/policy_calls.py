"""Calls generated from the schema: one document per policy entry, with arguments that pass
GraphQL validation, so a test can put any id at any of the policy's paths."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    is_leaf_type,
)
from graphql.pyutils import Undefined

from tollway.settings import Settings
from tollway.web.graphql_schema import build_schema

SCHEMA: GraphQLSchema = build_schema(Settings())._schema
ROOTS = ("Query", "Mutation", "Subscription")
SCALARS: dict[str, Any] = {
    "String": "policy-probe",
    "Int": 1,
    "Float": 1.0,
    "Boolean": False,
    "DateTime": "2026-01-01T00:00:00Z",
    "Date": "2026-01-01",
    "Decimal": "1",
    "JSON": {},
}


def field_of(operation: str) -> GraphQLField:
    """The schema's field for `Type.field`."""
    type_name, name = operation.split(".")
    parent = SCHEMA.type_map[type_name]
    assert isinstance(parent, GraphQLObjectType)
    return parent.fields[name]


def id_paths(operation: str) -> Iterator[str]:
    """Every argument path that carries an id: typed ID, or named `…Id` / `…Ids`."""
    for name, argument in field_of(operation).args.items():
        yield from _id_paths(name, argument.type, frozenset())


def _id_paths(path: str, of: GraphQLInputType, seen: frozenset[str]) -> Iterator[str]:
    named = get_named_type(of)
    if isinstance(named, GraphQLInputObjectType):
        if named.name not in seen:
            for name, inner in named.fields.items():
                yield from _id_paths(f"{path}.{name}", inner.type, seen | {named.name})
    elif named is GraphQLID or path.endswith(("Id", "Ids")):
        yield path


def dummy(of: GraphQLInputType) -> Any:
    """A value of the type that passes validation (required input fields only)."""
    if isinstance(of, GraphQLNonNull):
        return dummy(of.of_type)
    if isinstance(of, GraphQLList):
        return [dummy(of.of_type)]
    if isinstance(of, GraphQLEnumType):
        return next(iter(of.values))
    if isinstance(of, GraphQLInputObjectType):
        return {
            name: dummy(f.type)
            for name, f in of.fields.items()
            if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined
        }
    if of is GraphQLID:
        return str(uuid.uuid4())
    return SCALARS[of.name]


@dataclass
class Call:
    """One operation with the variables it passes (the others keep their defaults)."""

    operation: str
    variables: dict[str, Any]

    @property
    def document(self) -> str:
        """The operation's document, declaring exactly the variables given."""
        type_name, name = self.operation.split(".")
        field = field_of(self.operation)
        selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
        given = [n for n in field.args if n in self.variables]
        if not given:
            return f"{type_name.lower()} {{ {name}{selection} }}"
        declared = ", ".join(f"${n}: {field.args[n].type}" for n in given)
        passed = ", ".join(f"{n}: ${n}" for n in given)
        return f"{type_name.lower()}({declared}) {{ {name}({passed}){selection} }}"

    def put(self, path: str, value: Any) -> Call:
        """The call with `value` at an argument path (a list gets it as its one element)."""
        head, *rest = path.split(".")
        argument = field_of(self.operation).args[head]
        variables = dict(self.variables)
        variables[head] = _put(variables.get(head), argument.type, rest, value)
        return Call(self.operation, variables)


def _put(current: Any, of: GraphQLInputType, rest: list[str], value: Any) -> Any:
    inner = of.of_type if isinstance(of, GraphQLNonNull) else of
    if isinstance(inner, GraphQLList):
        items = current if current else [None]
        return [_put(item, inner.of_type, rest, value) for item in items]
    if not rest:
        return value
    assert isinstance(inner, GraphQLInputObjectType)
    holder = dict(current if current is not None else dummy(inner))
    holder[rest[0]] = _put(holder.get(rest[0]), inner.fields[rest[0]].type, rest[1:], value)
    return holder


def call(operation: str) -> Call:
    """The root field called with a value for every required argument without a default."""
    assert operation.split(".")[0] in ROOTS, operation
    arguments = field_of(operation).args
    return Call(operation, {
        n: dummy(a.type) for n, a in arguments.items()
        if isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined
    })  # fmt: skip
