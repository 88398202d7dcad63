"""The ASGI apps `bench/enforcement.py` serves, one uvicorn worker each (`--factory`).

All answer `GET /` with the same small JSON body; they differ only in what guards it.
Configuration comes from the environment the benchmark sets.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tollway.enforcement import EnforcementMiddleware
from tollway.settings import load_settings

BODY = {"ok": True}
WINDOWS = "1000000000/minute;1000000000/hour"  # two windows that never reject


async def hello(request: Request) -> Response:
    """The protected endpoint."""
    return JSONResponse(BODY)


def bare() -> Starlette:
    """Nothing in front: the ceiling."""
    return Starlette(routes=[Route("/", hello)])


def tollway() -> EnforcementMiddleware:
    """Tollway's middleware; memory or Redis backend by TOLLWAY_REDIS_URL."""
    return EnforcementMiddleware(bare(), settings=load_settings())


def slowapi_redis() -> Starlette:
    """slowapi (on `limits`) with Redis storage, keyed by the API key header, two windows."""
    from slowapi import Limiter, _rate_limit_exceeded_handler
    from slowapi.errors import RateLimitExceeded

    def api_key(request: Request) -> str:
        return request.headers.get("x-api-key", "anonymous")

    limiter = Limiter(
        key_func=api_key, storage_uri=os.environ["BENCH_REDIS_URL"], headers_enabled=True
    )

    @limiter.limit(WINDOWS)
    async def limited(request: Request) -> Response:
        return JSONResponse(BODY)

    app = Starlette(routes=[Route("/", limited)])
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]
    return app


def headers_only() -> object:
    """The floor for any limiter: a pass-through middleware adding five fixed RateLimit headers."""
    inner = bare()
    extra = [
        (b"x-ratelimit-limit", b"100"),
        (b"x-ratelimit-remaining", b"99"),
        (b"x-ratelimit-reset", b"1700000000"),
        (b"ratelimit-policy", b'"60s";q=100;w=60'),
        (b"ratelimit", b'"60s";r=99;t=60'),
    ]

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)  # type: ignore[arg-type]
            return

        async def with_headers(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], *extra]}  # type: ignore[misc]
            await send(message)  # type: ignore[operator]

        await inner(scope, receive, with_headers)  # type: ignore[arg-type]

    return app
