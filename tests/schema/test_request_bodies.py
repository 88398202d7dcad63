"""Every request body gets a coded answer: never a 500, a plain-text error or INTERNAL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import BOOTSTRAP_TOKEN, GraphQL, LiveServer

AUTH = {"Authorization": f"Bearer {BOOTSTRAP_TOKEN}", "Content-Type": "application/json"}
HEALTH = "{ health { status } }"
NESTED_VARIABLES = (
    '{"query": "query($v: JSON) { health { status } }", "variables": {"v": '
    + "[" * 5000
    + "]" * 5000
    + "}}"
)


async def post_raw(server: LiveServer, body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        return await http.post("/graphql", content=body, headers=AUTH)


def coded(response: httpx.Response, status: int) -> str:
    """The message of a coded BAD_USER_INPUT answer with `status`."""
    assert response.status_code == status, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    message: str = error["message"]
    return message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"null", "JSON object"),
        (b"42", "JSON object"),
        (b'"a query"', "JSON object"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 100_000, "nested"),
        (NESTED_VARIABLES.encode(), "nested"),
        (b'{"query": "{ health { status } }"', "not JSON"),
        (json.dumps({"query": HEALTH, "variables": {"v": "a\u0000b"}}).encode(), "NUL"),
        (b'{"query": "{ health { status } }", "variables": {"v": "\\ud800"}}', "surrogate"),
    ],
)
async def test_unreadable_bodies_are_a_coded_400(
    server: LiveServer, body: bytes, says: str
) -> None:
    assert says in coded(await post_raw(server, body), 400)


NAMED = {
    "createTenant": "mutation{s} {{ createTenant(input: {{name: {v}}}) {{ tenant {{ id }} }} }}",
    "createPlan": "mutation{s} {{ createPlan(input: {{name: {v}}}) {{ name }} }}",
    "apiKeys": "query{s} {{ apiKeys(search: {v}) {{ totalCount }} }}",
}
"""Each operation with its string as a variable (`s`, `v` filled in) or as a literal."""


@pytest.mark.parametrize("field", sorted(NAMED))
@pytest.mark.parametrize("bad", ["a\u0000b", "a\ud800b"])
async def test_unstorable_strings_are_bad_user_input(gql: GraphQL, field: str, bad: str) -> None:
    with_variable = NAMED[field].format(s="($s: String!)", v="$s")
    body = json.dumps({"query": with_variable, "variables": {"s": bad}}).encode()
    async with httpx.AsyncClient(base_url=gql.http.base_url, timeout=10) as http:
        response = await http.post("/graphql", content=body, headers=AUTH)
    assert "NUL" in coded(response, 400)
    literal = NAMED[field].format(s="", v=json.dumps(bad))  # "\u0000" in the query's text
    assert await gql.error_code(literal) == "BAD_USER_INPUT"


async def test_deep_metadata_and_long_owner_ids_are_bad_user_input(gql: GraphQL) -> None:
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(900):
        cursor["a"] = {}
        cursor = cursor["a"]
    create = (
        'mutation($m: JSON) { createTenant(input: {name: "deep", metadata: $m}) { tenant { id } } }'
    )
    body = json.dumps({"query": create, "variables": {"m": deep}}).encode()
    async with httpx.AsyncClient(base_url=gql.http.base_url, timeout=10) as http:
        response = await http.post("/graphql", content=body, headers=AUTH)
    assert "nested" in coded(response, 400)
    tenant = await gql.create_tenant("owner")
    key = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }"
    long_owner = {"tenantId": tenant, "name": "k", "ownerId": "x" * 10_000}
    assert await gql.error_code(key, {"i": long_owner}) == "BAD_USER_INPUT"


async def test_a_subscription_over_http_is_a_coded_405(server: LiveServer) -> None:
    body = json.dumps({"query": "subscription { alerts { id } }"}).encode()
    assert "websockets" in coded(await post_raw(server, body), 405)


GRAPHQL_RESPONSE = "application/graphql-response+json"


async def test_the_graphql_response_media_type_is_honoured(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        accept = {**AUTH, "Accept": GRAPHQL_RESPONSE}

        async def ask(query: str, headers: dict[str, str]) -> httpx.Response:
            return await http.post("/graphql", json={"query": query}, headers=headers)

        ok = await ask(HEALTH, accept)
        assert ok.status_code == 200 and ok.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        assert ok.json()["data"]["health"]["status"]
        for bad in ("{ helth { status } }", "{ health { "):  # validation, parse
            refused = await ask(bad, accept)
            assert refused.status_code == 400
            assert refused.headers["content-type"].startswith(GRAPHQL_RESPONSE)
            body = refused.json()
            assert (
                "data" not in body and body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
            )
        plain = await ask("{ helth { status } }", AUTH)  # application/json: as before
        assert plain.status_code == 200 and plain.headers["content-type"] == "application/json"
        assert plain.json()["data"] is None
