"""A bounded schemathesis run over the admin schema, as a SUPER_ADMIN and as a tenant ADMIN,
against `tollway serve` on a database of its own: every generated query and mutation is
answered without a 5xx, without `INTERNAL` and without an unmasked message.

`TOLLWAY_FUZZ_EXAMPLES` (per operation) and `TOLLWAY_FUZZ_SEED` widen or vary the run; the
count of requests sent is printed at the end of the session.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import graphql
import httpx
import pytest
import schemathesis
from graphql import introspection_from_schema
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from tests.conftest import BOOTSTRAP_TOKEN, FUZZ_REQUESTS, storage_settings
from tests.processes import serving
from tollway.auth.principal import Role
from tollway.auth.tokens import TokenAuthority
from tollway.settings import Settings
from tollway.web.graphql_schema import build_schema

EXAMPLES = int(os.environ.get("TOLLWAY_FUZZ_EXAMPLES", "15"))
SEED = int(os.environ.get("TOLLWAY_FUZZ_SEED", "20261202"))

LEAKS = re.compile(
    r"Traceback|File \"|object has no attribute|unexpected keyword|NoneType|asyncpg|sqlite3"
    r"|tortoise|OverflowError|ValueError|TypeError|KeyError|IndexError|Internal server error",
    re.IGNORECASE,
)
"""What a message shows when an exception reached the client unmasked."""

schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False).map(str),
        st.text(max_size=20),
    ).map(nodes.String),
)

JSON_KEYS = st.one_of(
    st.sampled_from(["key", "token", "username", "password", "secret", "header", "query",
                     "client_id", "client_secret", "token_url", "authorize_url", "scopes"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
)  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31 - 1) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_KEYS, inner, max_size=4),
    max_leaves=12,
)


def json_literal(value: Any) -> graphql.ValueNode:
    """A GraphQL literal of a JSON value (the `JSON` scalar's input)."""
    if isinstance(value, dict):
        return graphql.ObjectValueNode(fields=tuple(
            graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=json_literal(v))
            for k, v in value.items()
        ))  # fmt: skip
    if isinstance(value, list):
        return graphql.ListValueNode(values=tuple(json_literal(v) for v in value))
    if isinstance(value, bool):
        return graphql.BooleanValueNode(value=value)
    if isinstance(value, int):
        return graphql.IntValueNode(value=str(value))
    if value is None:
        return graphql.NullValueNode()
    return graphql.StringValueNode(value=value)


schemathesis.graphql.scalar("JSON", JSON_VALUES.map(json_literal))


def generated_cases(known_ids: list[str]) -> list[tuple[str, str]]:
    """(operation, document) pairs: up to EXAMPLES per query and mutation of the schema, with
    ids drawn mostly from `known_ids` (the caller's and another tenant's), so that the
    documents reach the resolvers rather than stop at a malformed id."""
    ids = st.one_of(
        st.sampled_from(known_ids), st.uuids().map(str), st.text(max_size=40)
    )  # fmt: skip
    schemathesis.graphql.scalar("ID", ids.map(nodes.String))
    introspection = {"data": introspection_from_schema(build_schema(Settings())._schema)}
    schema = schemathesis.graphql.from_dict(introspection)
    cases: list[tuple[str, str]] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        cases += [(operation.label, document) for document in examples_of(operation)]
    return cases


def examples_of(operation: Any) -> list[str]:
    """The documents Hypothesis generates for one operation (the same ones for one seed)."""
    documents: list[str] = []

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES, database=None, deadline=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(case=operation.as_strategy())
    def collect(case: Any) -> None:
        documents.append(case.body)

    collect()
    return documents


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Settings]]:
    """`tollway serve` on a fresh database of the profile: what the fuzzer creates and
    changes (global plans, route rules, limit adjustments) reaches no other test."""
    profile = str(request.param)
    state = tmp_path_factory.mktemp(f"fuzz-{profile}")
    target = storage_settings(request, profile, state)
    with serving(
        database_url=target.database_url, redis_url=target.redis_url,
        admin_token=BOOTSTRAP_TOKEN, secret_key=target.signing_key(),
        state_dir=str(state), webhook_dispatch="false", admin_auth_failures_per_minute="0",
        alert_interval_seconds="3600",
    ) as base:  # fmt: skip
        yield base, target


CREATE_TENANT = "mutation($v: String!) { createTenant(input: {name: $v}) { tenant { id } } }"
CREATE_KEY = (
    'mutation($v: ID!) { createApiKey(input: {tenantId: $v, name: "k"}) { apiKey { id } } }'
)


async def create(http: httpx.AsyncClient, mutation: str, value: str) -> str:
    """The id of what `mutation` (given `$v`) created, as SUPER_ADMIN."""
    answer = await http.post(
        "/graphql", json={"query": mutation, "variables": {"v": value}},
        headers={"Authorization": f"Bearer {BOOTSTRAP_TOKEN}"},
    )  # fmt: skip
    payload = next(iter(answer.json()["data"].values()))
    created: str = next(iter(payload.values()))["id"]
    return created


def problems(label: str, response: httpx.Response) -> list[str]:
    """What is wrong with one answer (nothing, when it is a coded answer or data)."""
    if response.status_code >= 500:
        return [f"{label}: HTTP {response.status_code} {response.text[:300]}"]
    try:
        body = response.json()
    except json.JSONDecodeError:
        return [f"{label}: HTTP {response.status_code}, not JSON: {response.text[:300]}"]
    found = []
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code in (None, "INTERNAL") or LEAKS.search(error.get("message", "")):
            found.append(f"{label}: {code} {error.get('message', '')[:300]}")
    return found


async def test_generated_operations_get_coded_answers(
    fuzz_target: tuple[str, Settings], request: pytest.FixtureRequest
) -> None:
    base, target = fuzz_target
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        known = [await create(http, CREATE_TENANT, name) for name in ("fuzzed", "other")]
        known += [await create(http, CREATE_KEY, tenant) for tenant in known]
        tenant = UUID(known[0])
        cases = generated_cases(known)
        authority = TokenAuthority(
            target.signing_key(), target.jwt_issuer, audience=target.jwt_audience,
            bootstrap=None,
        )  # fmt: skip
        tokens = {
            "SUPER_ADMIN": BOOTSTRAP_TOKEN,
            "ADMIN": authority.issue(Role.ADMIN, tenant, ttl=timedelta(hours=1), subject="fuzz"),
        }
        found: list[str] = []
        sent = 0
        for role, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}"}
            for label, document in cases:
                response = await http.post("/graphql", json={"query": document}, headers=headers)
                found += [
                    f"{problem}\n    {document[:600]}"
                    for problem in problems(f"{role} {label}", response)
                ]
                sent += 1
    request.node.user_properties.append((FUZZ_REQUESTS, (request.node.callspec.id, sent)))
    assert sent >= len(tokens) * 60, "the schema produced too few operations to fuzz"
    assert not found, "\n".join(found[:20])
