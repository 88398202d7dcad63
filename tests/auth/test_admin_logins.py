"""Failed admin logins: answered 401, limited per client address (429 with Retry-After),
recorded as security events that raise one brute-force alert; JWTs held to NumericDates, a
maximum lifetime and a live tenant."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import jwt

from tests.conftest import SECRET_KEY, GraphQL, LiveServer
from tests.processes import tollway_bin, tollway_env
from tests.servers import free_port, wait_for_port
from tollway.app import build_app, build_services
from tollway.auth.principal import Role
from tollway.models import Alert, SecurityEvent, Tenant, TenantStatus

ATTACKER = "203.0.113.77"
HEALTH = {"query": "{ health { status } }"}


async def test_guessing_tokens_ends_in_429s_and_one_brute_force_alert(server: LiveServer) -> None:
    settings: Any = server.settings.model_copy(update={"admin_auth_failures_per_minute": 20})
    app = build_app(settings, run_worker=False)
    statuses: list[int] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(ATTACKER, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tollway") as http:
            for attempt in range(300):
                headers = {"Authorization": f"Bearer wrong-{attempt}"}
                response = await http.post("/graphql", json=HEALTH, headers=headers)
                statuses.append(response.status_code)
                assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
                if response.status_code == 429:
                    assert 1 <= int(response.headers["Retry-After"]) <= 60
            await asyncio.sleep(1.5)  # the security events are flushed every second
    assert statuses[:20] == [401] * 20
    assert statuses[20:] == [429] * 280  # refused at once, no token checked
    recorded = await SecurityEvent.filter(client_ip=ATTACKER, reason="ADMIN_AUTH_FAILED").count()
    assert recorded == 300
    engine = build_services(server.settings).alert_engine
    await engine.evaluate(datetime.now(UTC))
    await engine.evaluate(datetime.now(UTC) + timedelta(seconds=10))
    alerts = await Alert.filter(kind="CREDENTIAL_BRUTE_FORCE", subject=f"ip:{ATTACKER}")
    assert len(alerts) == 1


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "sub": "t", "role": "SUPER_ADMIN", "iss": "tollway", "aud": "tollway-admin",
        "iat": now, "exp": now + 600,
    }  # fmt: skip
    claims.update(overrides)
    return claims


async def test_tokens_must_carry_numeric_dates_and_a_bounded_life(gql: GraphQL) -> None:
    now = int(datetime.now(UTC).timestamp())
    for bad in (
        _claims(exp=str(now + 600)),
        _claims(iat=str(now)),
        _claims(nbf="0"),
        _claims(exp=now + 31 * 86400),  # longer than the 30-day maximum
    ):
        token = jwt.encode(bad, SECRET_KEY, algorithm="HS256")
        response = await gql.http.post(
            "/graphql", json=HEALTH, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, bad
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    good = jwt.encode(_claims(), SECRET_KEY, algorithm="HS256")
    assert await gql.data("{ health { status } }", token=good)


async def test_a_token_of_a_missing_or_suspended_tenant_is_refused(gql: GraphQL) -> None:
    missing = gql.token(Role.ADMIN, uuid4())
    response = await gql.http.post(
        "/graphql", json=HEALTH, headers={"Authorization": f"Bearer {missing}"}
    )
    assert response.status_code == 401
    assert "does not exist" in response.json()["errors"][0]["message"]
    tenant = await gql.create_tenant("suspended")
    token = gql.token(Role.ADMIN, tenant)
    assert await gql.data("{ health { status } }", token=token)
    await Tenant.filter(id=tenant).update(status=TenantStatus.SUSPENDED)
    response = await gql.http.post(
        "/graphql", json=HEALTH, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert "disabled" in response.json()["errors"][0]["message"]


def test_the_cli_refuses_tokens_past_the_maximum_lifetime(tmp_path: Any) -> None:
    env = tollway_env(secret_key=SECRET_KEY, state_dir=str(tmp_path))
    command = [tollway_bin(), "token", "create", "--role", "SUPER_ADMIN"]
    refused = subprocess.run([*command, "--ttl", "31d"], env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "at most 30d" in refused.stderr
    issued = subprocess.run([*command, "--ttl", "30d"], env=env, capture_output=True, text=True)
    assert issued.returncode == 0, issued.stderr


async def test_tollway_serve_does_not_believe_forwarded_headers(server: LiveServer) -> None:
    port = free_port()
    env = tollway_env(
        database_url=server.settings.database_url, redis_url=server.settings.redis_url,
        secret_key=SECRET_KEY, state_dir=str(server.settings.state_dir), port=str(port),
    )  # fmt: skip
    process = subprocess.Popen(
        [tollway_bin(), "serve", "--no-worker"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout=30)
        forged = "198.51.100.99"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            agent = f"forwarded-{uuid4().hex}"
            headers = {
                "Authorization": "Bearer wrong", "X-Forwarded-For": forged, "User-Agent": agent
            }  # fmt: skip
            response = await http.post("/graphql", json=HEALTH, headers=headers)
        assert response.status_code == 401
        for _ in range(100):  # flushed within a second or so
            event = await SecurityEvent.get_or_none(user_agent=agent)
            if event is not None:
                break
            await asyncio.sleep(0.1)
        assert event is not None and event.client_ip == "127.0.0.1"
    finally:
        process.terminate()
        process.wait(15)
