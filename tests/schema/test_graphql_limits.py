"""Hostile or malformed GraphQL is answered with coded errors, never a 500."""

from __future__ import annotations

from tests.conftest import GraphQL


def nested(depth: int) -> str:
    """`tenants { edges { node { f4 { f5 ... } } } }`, `depth` levels in all."""
    inner = "leaf"
    for level in range(depth - 4, 0, -1):
        inner = f"f{level + 3} {{ {inner} }}"
    return f"{{ tenants {{ edges {{ node {{ {inner} }} }} }} }}"


async def test_malformed_query(gql: GraphQL) -> None:
    body = await gql.post("{ tenants { totalCount ")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Syntax Error" in body["errors"][0]["message"]


async def test_query_thirty_levels_deep(gql: GraphQL) -> None:
    body = await gql.post(nested(30))
    assert body["data"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}
    assert any("exceeds maximum operation depth" in e["message"] for e in body["errors"])
    shallow = await gql.post(nested(6))
    assert not any("depth" in e["message"] for e in shallow["errors"])


async def test_five_hundred_aliases(gql: GraphQL) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(500)) + " }"
    body = await gql.post(query)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "aliases" in body["errors"][0]["message"]


async def test_too_many_tokens(gql: GraphQL) -> None:
    query = "{ " + " ".join("__typename" for _ in range(3000)) + " }"
    body = await gql.post(query)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_unknown_field_and_bad_variable(gql: GraphQL) -> None:
    assert await gql.error_code("{ nope }") == "BAD_USER_INPUT"
    query = "query($f: Int) { tenants(first: $f) { totalCount } }"
    assert await gql.error_code(query, {"f": "many"}) == "BAD_USER_INPUT"
    assert (
        await gql.error_code('{ auditLog(filter: {since: "yesterday"}) { totalCount } }')
        == "BAD_USER_INPUT"
    )


async def test_non_json_and_get_requests_are_client_errors(gql: GraphQL) -> None:
    response = await gql.http.post(
        "/graphql", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    response = await gql.http.get("/graphql", params={"query": "{ me { role } }"})
    assert 400 <= response.status_code < 500
