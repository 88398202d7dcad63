"""The Strawberry ASGI view: per-request context, websocket authentication."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from tollway.errors import Unauthenticated
from tollway.schema.build import build_schema
from tollway.schema.context import Context, make_loaders
from tollway.services import Services


class TollwayGraphQL(GraphQL[Context, None]):
    """`/graphql` over HTTP and graphql-transport-ws."""

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
