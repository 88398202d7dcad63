"""The ASGI apps `bench/enforcement.py` serves, one uvicorn worker each (`--factory`).

All answer `GET /` with the same small JSON body; they differ only in what guards it.
Configuration comes from the environment the benchmark sets.
"""

from __future__ import annotations

import os
import time
from typing import Any

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


def minimal_limiter() -> object:
    """Reference: the least any Python API-key limiter does. One dict lookup for the key
    (`BENCH_SECRET`), one fixed-window counter, the five RateLimit headers computed."""
    return _minimal(windows=(60,), quota=False, capture=False)


def minimal_configuration() -> object:
    """Reference: the least a Python middleware does for the configuration Tollway is measured
    with. The key looked up in a dict, two sliding windows and a monthly quota counted in
    dicts, the five headers for all three, and one usage record per request appended to a
    list (never written anywhere)."""
    return _minimal(windows=(60, 3600), quota=True, capture=True)


def _minimal(windows: tuple[int, ...], quota: bool, capture: bool) -> object:
    """Neither reference checks status, expiry, IPs, origins or scopes, refuses anything,
    shares counters between instances, or writes usage: what they reach bounds what a complete
    middleware in Python can."""
    inner = bare()
    keys = {os.environ["BENCH_SECRET"].encode(): "bench"}
    counters: dict[tuple[str, int, int], int] = {}
    usage: list[tuple[object, ...]] = []
    limit = 1_000_000_000
    quota_limit = 10**15
    names = [b'"%ds"' % seconds for seconds in windows] + ([b'"quota"'] if quota else [])
    policy = b", ".join(
        [b'"%ds";q=%d;w=%d' % (seconds, limit, seconds) for seconds in windows]
        + ([b'"quota";q=%d' % quota_limit] if quota else [])
    )

    async def app(scope: dict[str, Any], receive: object, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)  # type: ignore[arg-type]
            return
        started = time.perf_counter()
        secret = agent = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                secret = value
            elif name == b"user-agent":
                agent = value.decode("latin-1")
        key = keys[secret]
        now = time.time()
        levels = []
        for seconds in windows:  # sliding windows: this one's count and the previous one's
            index = int(now // seconds)
            count = counters[key, seconds, index] = counters.get((key, seconds, index), 0) + 1
            previous = counters.get((key, seconds, index - 1), 0)
            reset = (index + 1) * seconds
            weight = (reset - now) / seconds
            levels.append((limit - count - int(previous * weight), int(reset - now)))
        if quota:
            used = counters[key, 0, 0] = counters.get((key, 0, 0), 0) + 1
            levels.append((quota_limit - used, 0))
        remaining, seconds_left = levels[0]
        pairs = zip(names, levels, strict=True)
        extra = [
            (b"x-ratelimit-limit", b"%d" % limit),
            (b"x-ratelimit-remaining", b"%d" % remaining),
            (b"x-ratelimit-reset", b"%d" % (now + seconds_left)),
            (b"ratelimit-policy", policy),
            (b"ratelimit", b", ".join([b"%s;r=%d;t=%d" % (n, *lv) for n, lv in pairs])),
        ]
        status = 0

        async def with_headers(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message["headers"], *extra]}
            await send(message)

        try:
            await inner(scope, receive, with_headers)  # type: ignore[arg-type]
        finally:
            if capture:
                usage.append(
                    (time.time(), key, scope["method"], scope["path"], status,
                     (time.perf_counter() - started) * 1000, scope["client"][0], agent)
                )  # fmt: skip
                if len(usage) >= 10_000:
                    usage.clear()

    return app
