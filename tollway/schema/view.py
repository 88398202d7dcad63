"""The Strawberry ASGI view: per-request context, websocket authentication."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from tollway.errors import Unauthenticated
from tollway.schema.build import build_schema
from tollway.schema.context import Context, make_loaders
from tollway.services import Services


class BodyTooLarge(Exception):
    """The request body passed the configured limit while it was read."""


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
    body = {
        "data": None,
        "errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}],
    }
    await JSONResponse(body, status_code=413)(scope, receive, send)
