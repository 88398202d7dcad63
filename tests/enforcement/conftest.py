"""A protected ASGI app behind EnforcementMiddleware, on the same storage as the admin server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.clock import ManualClock
from tests.conftest import LiveServer
from tollway.enforcement import EnforcementMiddleware, RouteRule
from tollway.enforcement.runtime import EnforcementRuntime
from tollway.settings import Settings

CLIENT_IP = "203.0.113.7"


def downstream() -> Starlette:
    """The API being protected: echoes the principal it was given."""

    async def echo(request: Request) -> JSONResponse:
        principal = request.scope.get("tollway.principal")
        return JSONResponse(
            {"key": principal.key_id if principal else None, "path": request.url.path}
        )

    return Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST"])])


Protected = Callable[..., Any]


@pytest.fixture
async def protected(server: LiveServer, clock: ManualClock) -> AsyncIterator[Protected]:
    """`async with protected(routes=..., ip=..., settings=..., app=...) as (client,
    middleware)`; the app defaults to `downstream()`, and its runtime runs by `clock`."""
    opened: list[EnforcementMiddleware] = []

    @asynccontextmanager
    async def make(
        routes: Iterable[RouteRule] = (),
        ip: str = CLIENT_IP,
        settings: Settings | None = None,
        app: Any = None,
    ) -> AsyncIterator[tuple[httpx.AsyncClient, EnforcementMiddleware]]:
        runtime = EnforcementRuntime(settings or server.settings, routes, clock=clock)
        middleware = EnforcementMiddleware(app or downstream(), runtime=runtime)
        opened.append(middleware)
        transport = httpx.ASGITransport(app=middleware, client=(ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield client, middleware

    yield make
    for middleware in opened:
        await middleware.runtime.stop()
