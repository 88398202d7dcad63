"""The `tollway` command: clear one-line errors for bad settings, real servers end to end."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.processes import run_tollway, serving
from tests.servers import PostgresServer, RedisServer, ServerUnavailable, free_port

BOOT = "cli-bootstrap-token"


def one_line_error(result: object) -> str:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, stderr  # type: ignore[attr-defined]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("database_url", "mysql://db/x", "TOLLWAY_DATABASE_URL: unsupported scheme 'mysql'"),
        ("database_url", "not a url", "TOLLWAY_DATABASE_URL: unsupported scheme"),
        ("redis_url", "http://cache:6379", "TOLLWAY_REDIS_URL: unsupported scheme 'http'"),
        ("redis_url", "redis://cache:notaport", "TOLLWAY_REDIS_URL: bad port"),
        ("port", "eighty", "TOLLWAY_PORT:"),
        ("graphql_max_depth", "1", "TOLLWAY_GRAPHQL_MAX_DEPTH:"),
    ],
)
def test_bad_settings_stop_start_up_with_one_line(
    variable: str, value: str, expected: str, tmp_path: Path
) -> None:
    line = one_line_error(run_tollway("serve", cwd=tmp_path, **{variable: value}))
    assert line.startswith(f"tollway: {expected}"), line


def test_unreachable_postgres_names_its_address(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgres://tollway@127.0.0.1:{port}/tollway"
    line = one_line_error(run_tollway("serve", cwd=tmp_path, database_url=url))
    assert f"TOLLWAY_DATABASE_URL: cannot reach PostgreSQL at 127.0.0.1:{port}" in line


def test_unreachable_redis_names_its_address(tmp_path: Path) -> None:
    port = free_port()
    line = one_line_error(
        run_tollway(
            "serve",
            cwd=tmp_path,
            database_url=f"sqlite://{tmp_path}/t.db",
            redis_url=f"redis://127.0.0.1:{port}/0",
        )
    )
    assert f"TOLLWAY_REDIS_URL: cannot reach Redis at 127.0.0.1:{port}" in line


def test_token_create_validates_its_arguments(tmp_path: Path) -> None:
    assert "needs a tenant" in one_line_error(
        run_tollway("token", "create", "--role", "ADMIN", cwd=tmp_path)
    )
    assert "bad TTL" in one_line_error(
        run_tollway("token", "create", "--role", "SUPER_ADMIN", "--ttl", "forever", cwd=tmp_path)
    )
    assert "--tenant" in one_line_error(
        run_tollway("token", "create", "--role", "VIEWER", "--tenant", "acme", cwd=tmp_path)
    )


def graphql(base: str, query: str, token: str = BOOT) -> dict[str, object]:
    response = httpx.post(
        f"{base}/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_embedded_server_from_an_empty_directory(tmp_path: Path) -> None:
    """What `make run` does: migrate, then serve on SQLite with nothing else configured."""
    assert run_tollway("migrate", cwd=tmp_path).returncode == 0
    with serving(cwd=tmp_path, admin_token=BOOT) as base:
        deadline = time.monotonic() + 10
        while (body := graphql(base, "{ health { status } }"))["data"] != {
            "health": {"status": "HEALTHY"}
        }:
            assert time.monotonic() < deadline, body
            time.sleep(0.2)
    assert (tmp_path / "tollway.db").exists()
    assert (tmp_path / ".tollway" / "secret-key").stat().st_mode & 0o077 == 0


def wait_for_status(url: str, status: int, within: float) -> float:
    started = time.monotonic()
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == status:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        assert time.monotonic() - started < within, (
            f"{url} did not answer {status} within {within}s"
        )
        time.sleep(0.1)


def test_production_server_on_postgres_and_redis(postgres: PostgresServer, tmp_path: Path) -> None:
    """PostgreSQL and Redis; /readyz follows Redis down and back up; CLI tokens work."""
    try:
        redis = RedisServer().start()  # our own: this test stops it
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    url = postgres.create_database()
    secret = "production-test-secret-0123456789abcdef"
    assert run_tollway("migrate", database_url=url).returncode == 0
    env = {"database_url": url, "redis_url": redis.url, "admin_token": BOOT, "secret_key": secret}
    try:
        with serving(cwd=tmp_path, **env) as base:
            health = graphql(base, "{ health { status components { name detail } } }")
            assert health["data"]["health"]["status"] in {"HEALTHY", "DEGRADED"}  # type: ignore[index]
            tenant = graphql(
                base, 'mutation { createTenant(input: {name: "cli-e2e"}) { tenant { id } } }'
            )
            tenant_id = tenant["data"]["createTenant"]["tenant"]["id"]  # type: ignore[index]

            minted = run_tollway(
                "token", "create", "--role", "VIEWER", "--tenant", tenant_id, "--ttl", "10m",
                secret_key=secret,
            )  # fmt: skip
            assert minted.returncode == 0, minted.stderr
            me = graphql(base, "{ me { role tenantId } }", token=minted.stdout.strip())
            assert me["data"] == {"me": {"role": "VIEWER", "tenantId": tenant_id}}

            assert wait_for_status(f"{base}/readyz", 200, within=5) < 5
            redis.stop()
            assert wait_for_status(f"{base}/readyz", 503, within=5) < 5
            redis.start()
            wait_for_status(f"{base}/readyz", 200, within=10)
    finally:
        redis.stop()
