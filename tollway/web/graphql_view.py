"""The Strawberry ASGI view: per-request context, websocket authentication."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from cross_web import HTTPException
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from tollway.auth.principal import Principal
from tollway.enforcement.client_address import ClientAddress
from tollway.errors import ErrorCode, Unauthenticated
from tollway.schema.auth_gate import Attempt, AuthGate, Refusal
from tollway.schema.context import Context, make_loaders
from tollway.schema.inputs import InvalidInput, decode_body
from tollway.schema.media_type import accepts_graphql_response, graphql_response_send
from tollway.services import Services
from tollway.web.graphql_schema import build_schema
from tollway.web.websocket import CappedTransportWSHandler

PRINCIPAL = "tollway.principal"
"""Where the door leaves the admitted principal in the ASGI scope's state."""


class BodyTooLarge(Exception):
    """The request body passed the configured limit while it was read."""


class SubscriptionOverHttp(Exception):
    """A subscription came by HTTP; only websockets serve them."""


class TollwayGraphQL(GraphQL[Context, None]):
    """`/graphql` over HTTP and graphql-transport-ws."""

    graphql_transport_ws_handler_class = CappedTransportWSHandler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuses bad credentials (401, or 429 after too many from one address) and an
        oversized HTTP body (413, BAD_USER_INPUT) before GraphQL parses anything."""
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        headers = Headers(scope=scope)
        if accepts_graphql_response(headers.get("accept")):
            send = graphql_response_send(send)
        authorization = headers.get("authorization")
        if authorization:
            admitted = await self.gate.admit(authorization, self._attempt(scope, headers))
            if isinstance(admitted, Refusal):
                return await _refused(admitted, scope, receive, send)
            scope.setdefault("state", {})[PRINCIPAL] = admitted
        limit = self.services.settings.graphql_max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _too_large(limit, scope, receive, send)
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
            return message

        try:
            await super().__call__(scope, counted, send)
        except BodyTooLarge:
            await _too_large(limit, scope, receive, send)
        except InvalidInput as exc:
            await _bad_request(exc.message, 400, scope, receive, send)
        except SubscriptionOverHttp:
            message = "subscriptions are served over websockets (graphql-transport-ws) at /graphql"
            await _bad_request(message, 405, scope, receive, send)

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """A subscription sent over HTTP (refused by `InputGuard`) becomes a coded 405."""
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            if isinstance(exc.__cause__, InvalidOperationTypeError):
                raise SubscriptionOverHttp from None
            raise

    def parse_json(self, data: str | bytes) -> Any:
        """An HTTP body: refused with a coded 400 unless `schema/inputs.py` accepts it."""
        return decode_body(data, self.services.settings.graphql_max_input_depth)

    def decode_json(self, data: str | bytes) -> object:
        """A websocket message: one the checks refuse is invalid JSON to the protocol."""
        try:
            return decode_body(data, self.services.settings.graphql_max_input_depth)
        except InvalidInput as exc:
            raise json.JSONDecodeError(exc.message, "", 0) from None

    def __init__(self, services: Services) -> None:
        super().__init__(
            build_schema(services.settings),
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            allow_queries_via_get=False,
            graphql_ide=None if services.settings.graphql_introspection == "off" else "graphiql",
            allowed_origins=services.settings.allowed_origins,
            connection_init_wait_timeout=timedelta(seconds=10),
        )
        self.services = services
        self.max_subscriptions_per_connection = (
            services.settings.graphql_max_subscriptions_per_connection
        )
        self.gate = AuthGate(
            services.tokens, services.login_guard, activity=services.enforcement.activity
        )
        self._clients = ClientAddress(services.settings.trusted_proxies)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL, for the principals who may introspect (`TOLLWAY_GRAPHQL_INTROSPECTION`)."""
        public = self.services.settings.graphql_introspection == "public"
        if public or isinstance(request.scope.get("state", {}).get(PRINCIPAL), Principal):
            return await super().render_graphql_ide(request)
        return coded_response(
            "GraphiQL needs an admin token", ErrorCode.UNAUTHENTICATED, status=401
        )

    def _attempt(self, scope: Scope, headers: Headers) -> Attempt:
        address = self._clients.of(scope, headers.get("x-forwarded-for"))
        return Attempt(address, scope.get("method", "WS"), scope["path"], headers.get("user-agent"))

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        context = Context(
            services=self.services,
            loaders=make_loaders(self.services),
            principal_or_error=Unauthenticated("missing credentials: send connection_init"),
            request=request,
            response=response,
        )
        if isinstance(request, Request):
            admitted = request.scope.get("state", {}).get(PRINCIPAL)
            if isinstance(admitted, Principal):
                context.principal_or_error = admitted  # checked at the door
            else:
                context.authenticate(None)
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params: dict[str, Any] = context.connection_params or {}
        value = params.get("Authorization") or params.get("authorization")
        if not isinstance(value, str) or not value:
            raise ConnectionRejectionError({"reason": "missing credentials in connection_init"})
        socket: WebSocket = context.request
        admitted = await self.gate.admit(value, self._attempt(socket.scope, socket.headers))
        if isinstance(admitted, Refusal):
            reason: dict[str, object] = {"reason": admitted.message, "code": admitted.code.value}
            if admitted.retry_after_seconds is not None:
                reason["retryAfter"] = admitted.retry_after_seconds
            raise ConnectionRejectionError(reason)
        context.principal_or_error = admitted
        # Fresh loaders per connection are fine: a connection belongs to one principal.
        return await super().on_ws_connect(context)


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    message = (
        f"request body larger than {limit} bytes (TOLLWAY_GRAPHQL_MAX_BODY_BYTES); "
        "send large inputs such as usage events in several requests"
    )
    await _bad_request(message, 413, scope, receive, send)


def coded_response(
    message: str, code: ErrorCode, *, status: int, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A GraphQL-shaped answer given before GraphQL runs: one error with its code."""
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code.value}}]}
    return JSONResponse(body, status_code=status, headers=headers)


async def _refused(refusal: Refusal, scope: Scope, receive: Receive, send: Send) -> None:
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    if refusal.retry_after_seconds is not None:
        headers["Retry-After"] = str(refusal.retry_after_seconds)
    response = coded_response(refusal.message, refusal.code, status=refusal.status, headers=headers)
    await response(scope, receive, send)


async def _bad_request(
    message: str, status: int, scope: Scope, receive: Receive, send: Send
) -> None:
    await coded_response(message, ErrorCode.BAD_USER_INPUT, status=status)(scope, receive, send)
