"""`EnforcementMiddleware`: pure ASGI enforcement in front of any ASGI app.

    app = Starlette(routes=..., middleware=[Middleware(EnforcementMiddleware)])
    app = EnforcementMiddleware(app, routes=[RouteRule("/reports/**", scopes=("reports:read",))])

Denied requests get an RFC 9457 problem response and never reach the app. Allowed requests
reach it with `scope["tollway.principal"]` (a `KeyRecord`) and leave with RateLimit headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from tollway.asgi import ASGIApp, Message, Receive, Scope, Send
from tollway.enforcement.app_routes import AppRoutes
from tollway.enforcement.capture import UsageCapture
from tollway.enforcement.client_address import ClientAddress
from tollway.enforcement.headers import Header, ratelimit_headers
from tollway.enforcement.problems import problem_body
from tollway.enforcement.request_headers import read_headers
from tollway.enforcement.routes import RouteRule
from tollway.enforcement.runtime import EnforcementRuntime
from tollway.settings import Settings, load_settings

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = (b"content-type", b"application/problem+json")


class EnforcementMiddleware:
    """API-key auth, IP/origin/scope checks, rate limits and quotas for HTTP requests.

    The runtime (key cache, limiter, usage writer, connections) starts with the app's
    lifespan and stops with it; under a server that sends no lifespan events it starts on the
    first request instead.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings | None = None,
        routes: Iterable[RouteRule] = (),
        runtime: EnforcementRuntime | None = None,
    ) -> None:
        self.app = app
        self._app_routes = AppRoutes(app)
        self.runtime = runtime or EnforcementRuntime(settings or load_settings(), routes)
        self._clients = ClientAddress(self.runtime.settings.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, self._follow_lifespan(send))
            else:
                await self.app(scope, receive, send)
            return
        runtime = self.runtime
        if not runtime.started:
            await runtime.start()
        started = time.perf_counter()
        request = read_headers(scope["headers"])
        client_ip = self._clients.of(scope, request.forwarded)
        method, path = scope["method"], scope["path"]
        verdict = await runtime.verifier.verify(
            request.secret, method=method, path=path, client_ip=client_ip, origin=request.origin
        )
        decision = verdict.decision
        extra = ratelimit_headers(decision, verdict.now_ms) if decision else []
        if verdict.retry_after is not None:
            extra.append((b"retry-after", b"%d" % verdict.retry_after))
        record = verdict.record
        stored_ip = runtime.addresses.stored(client_ip, record.anonymize_ips if record else None)
        usage = UsageCapture(
            started,
            method,
            path=path,
            client_ip=stored_ip,
            agent=request.agent,
            request_bytes=request.request_bytes,
            key=record,
            route=verdict.rule.name if verdict.rule else None,
            cost=verdict.rule.cost if verdict.rule else 1,
        )
        if verdict.code is not None:
            if usage.route is None:  # the app never sees it: match its route here
                usage.route = self._app_routes.template(scope)
            runtime.activity.denied(
                verdict.code.value, method=method, path=path, client_ip=client_ip,
                user_agent=request.agent, key=record, presented=request.secret,
            )  # fmt: skip
            status, body = problem_body(verdict.code, verdict.detail)
            # Logged before the client can see the answer (see `metering/wal.py`).
            runtime.usage.add_raw(
                usage.record(scope, status, response_bytes=len(body), error_code=verdict.code.value)
            )
            await _send_problem(send, status, body, extra)
            return
        if record is not None:
            runtime.activity.used(record.key_id, time.time())
            scope["tollway.principal"] = record
        await self._serve(scope, receive, send, usage, extra)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, usage: UsageCapture, extra: list[Header]
    ) -> None:
        """Pass an admitted request to the app, adding `extra` headers to its response and
        noting its status and size for the usage event."""
        writer = self.runtime.usage

        async def send_observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                usage.status = message["status"]
                if extra:
                    message = {**message, "headers": [*message.get("headers", ()), *extra]}
            elif message["type"] == "http.response.body":
                usage.response_bytes += len(message.get("body", b""))
                if not message.get("more_body"):  # logged before the client sees the end
                    usage.recorded = True
                    writer.add_raw(
                        usage.record(scope, usage.status, response_bytes=usage.response_bytes)
                    )
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            if not usage.recorded:  # the app failed, or ended without a last body
                status = usage.status or 500
                writer.add_raw(usage.record(scope, status, response_bytes=usage.response_bytes))

    def _follow_lifespan(self, send: Send) -> Send:
        """Start the runtime once the app has started, stop it once the app has stopped."""

        async def followed(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                try:
                    await self.runtime.start()
                except Exception as exc:
                    logger.exception("Tollway enforcement could not start")
                    message = {"type": "lifespan.startup.failed", "message": str(exc)}
            elif message["type"] == "lifespan.shutdown.complete":
                await self.runtime.stop()
            await send(message)

        return followed


async def _send_problem(send: Send, status: int, body: bytes, extra: list[Header]) -> None:
    """Send the problem response (`problems.problem_body`'s status and body)."""
    headers = [PROBLEM_CONTENT_TYPE, (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
