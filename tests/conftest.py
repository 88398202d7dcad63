"""Fixtures: throwaway PostgreSQL and Redis, and a live Tollway server per storage profile.

Every storage-touching test runs twice: on the embedded profile (SQLite, in-memory
broadcaster) and on the production profile (PostgreSQL, Redis). Under CI=true a missing
PostgreSQL or Redis fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
import uvicorn

from tests.clock import ManualClock
from tests.processes import run_tollway
from tests.servers import PostgresServer, RedisServer, ServerUnavailable, free_port
from tollway.app import build_app
from tollway.auth.principal import Role
from tollway.auth.tokens import TokenAuthority
from tollway.settings import Settings, load_settings

pytest_plugins = ["tests.watchdog"]

BOOTSTRAP_TOKEN = "test-bootstrap-token"
SECRET_KEY = "test-secret-key-0123456789abcdef0123456789"
FUZZ_REQUESTS = "fuzz_requests"
"""The user property under which tests/schema/test_fuzz.py reports (profile, requests sent),
for the session summary (properties travel with reports, from xdist workers too)."""


def unavailable(reason: str) -> None:
    """Skip, or fail under CI=true, when a real server cannot be had."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: PostgreSQL and Redis are required)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole run; tests create databases in it."""
    try:
        server = PostgresServer().start()
    except ServerUnavailable as exc:
        unavailable(str(exc))
    yield server
    server.destroy()


def start_redis() -> RedisServer:
    """A throwaway Redis on a free loopback port (skipped, or failed under CI=true, without)."""
    try:
        return RedisServer().start()
    except ServerUnavailable as exc:
        unavailable(str(exc))
        raise


@pytest.fixture
def clock() -> ManualClock:
    """The test's clock: the protected app's runtime runs by it (tests/clock.py)."""
    return ManualClock()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis for the whole run."""
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of the test's own, which it may stop (the shared one serves everything else)."""
    server = start_redis()
    yield server
    server.stop()


def run_migrate(database_url: str) -> None:
    """`tollway migrate` in a subprocess, exactly as an operator runs it."""
    result = run_tollway("migrate", database_url=database_url)
    assert result.returncode == 0, result.stderr


def storage_settings(
    request: pytest.FixtureRequest, profile: str, state: Path, **overrides: Any
) -> Settings:
    """Settings of a fresh, migrated database of the profile (`sqlite` or `postgres`)."""
    if profile == "sqlite":
        database_url, redis_url = f"sqlite://{state}/tollway.db", None
    else:
        database_url = request.getfixturevalue("postgres").create_database()
        redis_url = request.getfixturevalue("redis_server").url
    run_migrate(database_url)
    return load_settings(
        database_url=database_url,
        redis_url=redis_url,
        admin_token=BOOTSTRAP_TOKEN,
        secret_key=SECRET_KEY,
        state_dir=state,
        worker_heartbeat_seconds=1.0,
        # Alert tests drive the engine with their own clock; the in-process worker's own
        # evaluation (at start-up, then hourly) must not race them.
        alert_interval_seconds=3600.0,
        # Likewise webhook tests run their own dispatcher, and integration tests their own
        # probes, with a controllable clock.
        webhook_dispatch=False,
        integration_probes=False,
        # Tests fail logins on purpose from one address all session long; the throttle has
        # tests of its own (tests/auth/test_admin_logins.py).
        admin_auth_failures_per_minute=0,
        **overrides,
    )


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Embedded (SQLite, memory broadcaster) or production (PostgreSQL, Redis) settings."""
    return storage_settings(request, request.param, tmp_path_factory.mktemp(request.param))


@dataclass
class LiveServer:
    """A Tollway server listening on a loopback port inside the test event loop."""

    base_url: str
    settings: Settings

    @property
    def ws_url(self) -> str:
        """The websocket URL of /graphql."""
        return self.base_url.replace("http://", "ws://") + "/graphql"


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[LiveServer]:
    """uvicorn serving `build_app(settings)` on a loopback port, lifespan included (the
    port is its public URL)."""
    port = free_port()
    settings = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    config = uvicorn.Config(
        build_app(settings),
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_level="warning",
        ws="websockets-sansio",
        proxy_headers=False,  # as `tollway serve` runs it
    )
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    while not uv.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start-up")
        await asyncio.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings)
    finally:
        uv.should_exit = True
        await task


@pytest.fixture(scope="session")
async def server(settings: Settings) -> AsyncIterator[LiveServer]:
    """The session's server of the storage profile."""
    async with serving(settings) as live:
        yield live


@pytest.fixture(scope="session")
def authority(settings: Settings) -> TokenAuthority:
    """Mints admin JWTs the server accepts."""
    return TokenAuthority(
        SECRET_KEY, settings.jwt_issuer, audience=settings.jwt_audience, bootstrap=None
    )


class GraphQL:
    """A small GraphQL-over-HTTP client returning the decoded response body."""

    def __init__(self, http: httpx.AsyncClient, authority: TokenAuthority) -> None:
        self.http = http
        self.authority = authority

    def token(self, role: Role, tenant_id: UUID | str | None = None) -> str:
        """A one-hour JWT for `role` (tenant-bound unless SUPER_ADMIN)."""
        tid = UUID(str(tenant_id)) if tenant_id is not None else None
        return self.authority.issue(role, tid, ttl=timedelta(hours=1), subject=f"test-{role.value}")

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = BOOTSTRAP_TOKEN,
    ) -> dict[str, Any]:
        """POST one operation; returns the JSON body (asserting it is not a 5xx)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code < 500, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        """The `data` of a successful operation (fails the test on any error)."""
        body = await self.post(query, variables, **kw)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def error_code(
        self, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> str:
        """The `extensions.code` of the first error (fails the test when there is none)."""
        body = await self.post(query, variables, **kw)
        assert body.get("errors"), f"expected an error, got {body}"
        code: str = body["errors"][0]["extensions"]["code"]
        return code

    async def create_tenant(self, prefix: str = "tenant") -> str:
        """A new tenant with a unique name; returns its id."""
        data = await self.data(
            "mutation($n: String!) { createTenant(input: {name: $n}) { tenant { id } } }",
            {"n": f"{prefix}-{uuid.uuid4().hex[:8]}"},
        )
        tenant_id: str = data["createTenant"]["tenant"]["id"]
        return tenant_id


@pytest.fixture
async def gql(server: LiveServer, authority: TokenAuthority) -> AsyncIterator[GraphQL]:
    """A GraphQL client for the live server."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        yield GraphQL(http, authority)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a real PostgreSQL or Redis."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if (
            "[postgres" in item.nodeid
            or "[redis" in item.nodeid
            or {"postgres", "redis_server", "own_redis"} & set(fixtures)
        ):
            item.add_marker(pytest.mark.postgres)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many tests ran on real PostgreSQL/Redis, so a green run cannot hide skips."""
    backed = {"passed": 0, "failed": 0, "skipped": 0}
    for outcome in backed:
        for report in terminalreporter.stats.get(outcome, []):
            if "postgres" in getattr(report, "keywords", {}):
                backed[outcome] += 1
    terminalreporter.write_sep(
        "-",
        "PostgreSQL/Redis-backed tests: "
        + ", ".join(f"{count} {outcome}" for outcome, count in backed.items()),
    )
    fuzzed = {
        value[0]: value[1]
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        for name, value in getattr(report, "user_properties", ())
        if name == FUZZ_REQUESTS
    }
    if fuzzed:
        terminalreporter.write_sep(
            "-",
            "schemathesis examples sent: "
            + ", ".join(f"{count} on {profile}" for profile, count in fuzzed.items()),
        )
