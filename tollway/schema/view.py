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

from tollway.errors import Unauthenticated
from tollway.schema.build import build_schema
from tollway.schema.context import Context, make_loaders
from tollway.schema.inputs import InvalidInput, decode_body
from tollway.services import Services


class BodyTooLarge(Exception):
    """The request body passed the configured limit while it was read."""


class SubscriptionOverHttp(Exception):
    """A subscription came by HTTP; only websockets serve them."""


class TollwayGraphQL(GraphQL[Context, None]):
    """`/graphql` over HTTP and graphql-transport-ws."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuses an oversized HTTP body (413, BAD_USER_INPUT) before GraphQL parses it."""
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        limit = self.services.settings.graphql_max_body_bytes
        declared = Headers(scope=scope).get("content-length")
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
            graphql_ide="graphiql",
            allowed_origins=services.settings.allowed_origins,
            connection_init_wait_timeout=timedelta(seconds=10),
        )
        self.services = services

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
            context.authenticate(request.headers.get("authorization"))
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params: dict[str, Any] = context.connection_params or {}
        value = params.get("Authorization") or params.get("authorization")
        context.authenticate(value if isinstance(value, str) else None)
        if not isinstance(context.principal_or_error, Unauthenticated):
            # Fresh loaders per connection are fine: a connection belongs to one principal.
            return await super().on_ws_connect(context)
        raise ConnectionRejectionError({"reason": context.principal_or_error.message})


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    message = (
        f"request body larger than {limit} bytes (TOLLWAY_GRAPHQL_MAX_BODY_BYTES); "
        "send large inputs such as usage events in several requests"
    )
    await _bad_request(message, 413, scope, receive, send)


async def _bad_request(
    message: str, status: int, scope: Scope, receive: Receive, send: Send
) -> None:
    body = {
        "data": None,
        "errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}],
    }
    await JSONResponse(body, status_code=status)(scope, receive, send)
