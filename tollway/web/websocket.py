"""graphql-transport-ws with Tollway's cap on operations per connection, refused with a
coded error (`BAD_USER_INPUT`) that names the setting."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage

from tollway.errors import ErrorCode


class CappedTransportWSHandler(BaseGraphQLTransportWSHandler[Any, None]):
    """Refuses a `subscribe` past `max_subscriptions_per_connection` operations in flight."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """Past the cap, an `error` message with `extensions.code`; otherwise as usual."""
        cap = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and cap is not None
            and message["id"] not in self.operations
            and len(self.operations) >= cap
        ):
            error = GraphQLError(
                f"at most {cap} operations at once on one connection "
                "(TOLLWAY_GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION); open another connection",
                extensions={"code": ErrorCode.BAD_USER_INPUT.value},
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)
