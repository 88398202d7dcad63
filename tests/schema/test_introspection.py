"""The schema is read only by those allowed to (TOLLWAY_GRAPHQL_INTROSPECTION): introspection,
GraphiQL and field suggestions, with a depth limit that counts introspection fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from graphql import get_introspection_query

from tests.conftest import GraphQL, LiveServer
from tollway.auth.principal import Principal, Role
from tollway.errors import Unauthenticated
from tollway.web.graphql_schema import build_schema

DEEP_TYPE = '{ __type(name: "Query") { ' + "ofType { " * 30 + "name" + " }" * 30 + " } }"


async def test_introspection_needs_a_token_by_default(gql: GraphQL) -> None:
    query = get_introspection_query()
    assert await gql.error_code(query, token=None) == "UNAUTHENTICATED"
    assert (await gql.data(query))["__schema"]["queryType"]["name"] == "Query"
    assert await gql.error_code(DEEP_TYPE) == "BAD_USER_INPUT"
    assert (await gql.data("{ __typename }", token=None))["__typename"] == "Query"


async def test_suggestions_only_for_authenticated_callers(gql: GraphQL) -> None:
    anonymous = await gql.post("{ helth { status } }", token=None)
    assert "Did you mean" not in anonymous["errors"][0]["message"]
    signed_in = await gql.post("{ helth { status } }")
    assert "Did you mean" in signed_in["errors"][0]["message"]


async def test_graphiql_is_for_authenticated_callers(gql: GraphQL, server: LiveServer) -> None:
    page = await gql.http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 401
    assert page.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    token = gql.token(Role.SUPER_ADMIN)
    page = await gql.http.get(
        "/graphql", headers={"Accept": "text/html", "Authorization": f"Bearer {token}"}
    )
    assert page.status_code == 200 and "graphiql" in page.text.lower()


@dataclass
class Ctx:
    principal_or_error: Principal | Unauthenticated


@pytest.mark.parametrize(
    ("mode", "anonymous", "signed_in"),
    [("public", True, True), ("authenticated", False, True), ("off", False, False)],
)
async def test_each_introspection_mode(
    server: LiveServer, mode: str, anonymous: bool, signed_in: bool
) -> None:
    settings: Any = server.settings.model_copy(update={"graphql_introspection": mode})
    schema = build_schema(settings)
    admin = Principal(subject="t", role=Role.SUPER_ADMIN)
    for context, allowed in ((Ctx(Unauthenticated("no")), anonymous), (Ctx(admin), signed_in)):
        result = await schema.execute("{ __schema { queryType { name } } }", context_value=context)
        assert (result.errors is None) is allowed, (mode, context, result.errors)
