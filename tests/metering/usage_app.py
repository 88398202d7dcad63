"""A protected app served by uvicorn in a subprocess, and a way to seed a key for it.

python -m tests.metering.usage_app seed      # prints a new key's secret
uvicorn tests.metering.usage_app:app --factory
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tollway.auth.principal import Principal, Role
from tollway.db import acquire_database, release_database
from tollway.enforcement import EnforcementMiddleware
from tollway.keys.limits import WindowSpec
from tollway.keys.plans import ensure_default_plans
from tollway.keys.service import NewKey
from tollway.settings import load_settings


async def hello(request: Request) -> Response:
    """The protected endpoint."""
    return JSONResponse({"ok": True})


def app() -> EnforcementMiddleware:
    """The middleware (TOLLWAY_* settings) in front of a one-route app."""
    return EnforcementMiddleware(Starlette(routes=[Route("/hello", hello)]))


async def seed() -> str:
    """A tenant and a key that never hits its limits; returns the secret."""
    from tollway.app import build_services

    settings = load_settings()
    services = build_services(settings)
    await acquire_database(settings)
    try:
        await ensure_default_plans()
        root = Principal(subject="test", role=Role.SUPER_ADMIN)
        tenant = await services.tenants.create(root, "usage-outage", metadata={})
        windows = [WindowSpec(1_000_000_000, 60)]
        new = NewKey(tenant_id=tenant.id, name="outage", plan="ENTERPRISE", rate_limits=windows)
        _, secret = await services.keys.create(root, new)
    finally:
        await release_database()
    return secret


def seed_with(env: dict[str, str]) -> str:
    """`seed` in a process of its own with the environment `env` (a migrated database);
    the secret."""
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-m", "tests.metering.usage_app", "seed"],
        cwd=root, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


if __name__ == "__main__" and sys.argv[1:] == ["seed"]:
    print(asyncio.run(seed()))
