"""`/integrations/{id}/proxy/{path}`: a provider called through Tollway by services not written
in Python. The caller presents a Tollway API key with the `integrations:proxy` scope (checked,
limited and metered by the enforcement middleware around this app); the provider receives the
integration's credentials, which the caller never sees."""

from __future__ import annotations

from uuid import UUID

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from tollway.auth.principal import Principal, Role
from tollway.clock import whole_seconds
from tollway.enforcement.capture import SERVICE_KEY
from tollway.enforcement.problems import DenialCode, problem_body
from tollway.enforcement.routes import scope_grants
from tollway.errors import Conflict, Forbidden, NotFound, TollwayError
from tollway.integrations.breaker import CircuitOpen
from tollway.integrations.grants import AuthUnavailable
from tollway.keys.records import KeyRecord
from tollway.services import Services

PROXY_SCOPE = "integrations:proxy"
PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host",
})  # fmt: skip
CALLER_ONLY = frozenset({"authorization", "x-api-key", "cookie"})
"""The caller's own credentials: never forwarded to the provider."""


def integration_service_name(integration_id: UUID) -> str:
    """The usage service of calls through an integration."""
    return f"integration:{integration_id}"


def problem(code: DenialCode, detail: str) -> Response:
    """The enforcement middleware's RFC 9457 problem for `code`."""
    status, body = problem_body(code, detail)
    return Response(body, status, media_type="application/problem+json")


def _retry_later(refused: Response, retry_after_ms: int | None) -> Response:
    if retry_after_ms is not None:
        refused.headers["retry-after"] = str(whole_seconds(retry_after_ms))
    return refused


class IntegrationProxy:
    """The ASGI app behind the route (wrapped by `EnforcementMiddleware`)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._respond(Request(scope, receive))
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        record: KeyRecord | None = request.scope.get("tollway.principal")
        if record is None or not scope_grants(record.scopes, PROXY_SCOPE):
            return problem(
                DenialCode.PERMISSION_DENIED, f"the API key lacks the {PROXY_SCOPE} scope"
            )
        try:
            integration_id = UUID(request.path_params["integration_id"])
        except ValueError:
            return problem(DenialCode.INTEGRATION_NOT_FOUND, "not an integration id")
        principal = Principal(f"api-key:{record.key_id}", Role.SERVICE, UUID(record.tenant_id))
        try:
            client = await self.services.integration_clients.client(principal, integration_id)
        except (NotFound, Forbidden):
            return problem(
                DenialCode.INTEGRATION_NOT_FOUND, f"integration {integration_id} not found"
            )
        except Conflict as exc:
            return problem(DenialCode.INTEGRATION_UNAVAILABLE, str(exc))
        request.scope[SERVICE_KEY] = integration_service_name(integration_id)
        return await self._forward(request, client)

    async def _forward(self, request: Request, client: httpx.AsyncClient) -> Response:
        headers = [
            (k, v) for k, v in request.headers.items()
            if k not in HOP_BY_HOP and k not in CALLER_ONLY
        ]  # fmt: skip
        upstream = client.build_request(
            request.method,
            "/" + request.path_params["path"],
            params=request.url.query,
            headers=headers,
            content=request.stream(),
        )
        try:
            answer = await client.send(upstream, stream=True)
        except CircuitOpen as exc:
            return _retry_later(problem(DenialCode.CIRCUIT_OPEN, str(exc)), exc.retry_after_ms)
        except AuthUnavailable as exc:
            refused = problem(DenialCode.INTEGRATION_AUTH_FAILED, str(exc))
            return _retry_later(refused, exc.retry_after_ms)
        except httpx.TimeoutException:
            return problem(DenialCode.UPSTREAM_TIMEOUT, "the provider did not answer in time")
        except (httpx.TransportError, TollwayError) as exc:
            return problem(
                DenialCode.UPSTREAM_UNAVAILABLE, f"the provider cannot be reached ({exc})"
            )

        return StreamingResponse(
            answer.aiter_raw(),
            answer.status_code,
            headers={k: v for k, v in answer.headers.items() if k not in HOP_BY_HOP},
            background=BackgroundTask(answer.aclose),
        )
