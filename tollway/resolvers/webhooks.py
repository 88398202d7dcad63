"""Webhook endpoints, messages, attempts, replays and recovery."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from tollway.errors import BadUserInput
from tollway.schema.connections import Connection, to_connection
from tollway.schema.context import Info
from tollway.schema.ids import parse_id, parse_optional_id
from tollway.schema.permissions import Allowed
from tollway.schema.types.webhooks import (
    CreateWebhookEndpointInput,
    RecoverWebhookMessagesPayload,
    UpdateWebhookEndpointInput,
    WebhookAttempt,
    WebhookAttemptFilterInput,
    WebhookEndpoint,
    WebhookEndpointWithSecret,
    WebhookEventType,
    WebhookHeaderInput,
    WebhookMessage,
    WebhookMessageFilterInput,
    WebhookMessagePayload,
)
from tollway.webhooks.catalog import EVENT_TYPES
from tollway.webhooks.endpoints import DEFAULT_OVERLAP_SECONDS, EndpointFields
from tollway.webhooks.messages import AttemptFilter, MessageFilter


def _headers(headers: list[WebhookHeaderInput] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for header in headers or []:
        if header.name.lower() in found:
            raise BadUserInput(f"headers: {header.name} is given twice")
        found[header.name.lower()] = header.value
    return found


@strawberry.type
class WebhookQuery:
    """Reading endpoints, messages and attempts."""

    @strawberry.field(permission_classes=[Allowed])
    async def webhook_endpoints(
        self,
        info: Info,
        tenant_id: strawberry.ID | None = None,
        *,
        enabled: bool | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WebhookEndpoint]:
        """The tenant's endpoints, oldest first."""
        ctx = info.context
        page = await ctx.services.webhook_endpoints.list(
            ctx.principal,
            parse_optional_id(tenant_id, "tenantId"),
            enabled=enabled,
            first=first,
            after=after,
        )
        return to_connection(page, WebhookEndpoint.from_model)

    @strawberry.field(permission_classes=[Allowed])
    async def webhook_endpoint(self, info: Info, id: strawberry.ID) -> WebhookEndpoint:
        """One endpoint."""
        ctx = info.context
        endpoint = await ctx.services.webhook_endpoints.get(ctx.principal, parse_id(id))
        return WebhookEndpoint.from_model(endpoint)

    @strawberry.field(permission_classes=[Allowed])
    async def webhook_messages(
        self,
        info: Info,
        filter: WebhookMessageFilterInput | None = None,
        *,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WebhookMessage]:
        """Messages, newest first."""
        f = filter or WebhookMessageFilterInput()
        flt = MessageFilter(
            tenant_id=parse_optional_id(f.tenant_id, "tenantId"),
            endpoint_id=parse_optional_id(f.endpoint_id, "endpointId"), status=f.status,
            event_type=f.event_type, since=f.since,
        )  # fmt: skip
        ctx = info.context
        page = await ctx.services.webhook_messages.list(
            ctx.principal, flt, first=first, after=after
        )
        return to_connection(page, WebhookMessage.from_model)

    @strawberry.field(permission_classes=[Allowed])
    async def webhook_message(self, info: Info, id: strawberry.ID) -> WebhookMessage:
        """One message."""
        ctx = info.context
        message = await ctx.services.webhook_messages.get(ctx.principal, parse_id(id))
        return WebhookMessage.from_model(message)

    @strawberry.field(permission_classes=[Allowed])
    async def webhook_attempts(
        self,
        info: Info,
        filter: WebhookAttemptFilterInput | None = None,
        *,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WebhookAttempt]:
        """Delivery attempts, newest first."""
        f = filter or WebhookAttemptFilterInput()
        flt = AttemptFilter(
            tenant_id=parse_optional_id(f.tenant_id, "tenantId"),
            endpoint_id=parse_optional_id(f.endpoint_id, "endpointId"),
            message_id=parse_optional_id(f.message_id, "messageId"), succeeded=f.succeeded,
            since=f.since,
        )  # fmt: skip
        ctx = info.context
        page = await ctx.services.webhook_messages.attempts(
            ctx.principal, flt, first=first, after=after
        )
        return to_connection(page, WebhookAttempt.from_model)

    @strawberry.field(permission_classes=[Allowed])
    async def webhook_event_types(self) -> list[WebhookEventType]:
        """Every event type an endpoint can subscribe to."""
        return [WebhookEventType(name=n, description=d) for n, d in EVENT_TYPES.items()]


@strawberry.type
class WebhookMutation:
    """Managing endpoints and (re)sending messages."""

    @strawberry.mutation(permission_classes=[Allowed])
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> WebhookEndpointWithSecret:
        """A new endpoint; its `whsec_` secret is returned this once."""
        ctx = info.context
        fields = EndpointFields(
            url=input.url, description=input.description, event_types=input.event_types,
            headers=_headers(input.headers), rate_limit_per_second=input.rate_limit_per_second,
            enabled=input.enabled,
        )  # fmt: skip
        endpoint, secret = await ctx.services.webhook_endpoints.create(
            ctx.principal, parse_id(input.tenant_id, "tenantId"), new=fields
        )
        return WebhookEndpointWithSecret(
            secret=secret, endpoint=WebhookEndpoint.from_model(endpoint)
        )

    @strawberry.mutation(permission_classes=[Allowed])
    async def update_webhook_endpoint(
        self, info: Info, id: strawberry.ID, *, input: UpdateWebhookEndpointInput
    ) -> WebhookEndpoint:
        """Change an endpoint; `enabled: true` brings a disabled one back."""
        changes: dict[str, Any] = {
            k: v for k, v in vars(input).items() if v is not strawberry.UNSET
        }
        if "headers" in changes:
            changes["headers"] = _headers(changes["headers"])
        ctx = info.context
        endpoint = await ctx.services.webhook_endpoints.update(
            ctx.principal, parse_id(id), changes=changes
        )
        return WebhookEndpoint.from_model(endpoint)

    @strawberry.mutation(permission_classes=[Allowed])
    async def delete_webhook_endpoint(self, info: Info, id: strawberry.ID) -> WebhookEndpoint:
        """Remove an endpoint with its messages and attempts."""
        ctx = info.context
        endpoint = await ctx.services.webhook_endpoints.delete(ctx.principal, parse_id(id))
        return WebhookEndpoint.from_model(endpoint)

    @strawberry.mutation(permission_classes=[Allowed])
    async def rotate_webhook_secret(
        self, info: Info, id: strawberry.ID, *, overlap_seconds: int = DEFAULT_OVERLAP_SECONDS
    ) -> WebhookEndpointWithSecret:
        """A new secret; the old one keeps signing too (two signatures) for the overlap."""
        ctx = info.context
        endpoint, secret = await ctx.services.webhook_endpoints.rotate_secret(
            ctx.principal, parse_id(id), overlap_seconds=overlap_seconds
        )
        return WebhookEndpointWithSecret(
            secret=secret, endpoint=WebhookEndpoint.from_model(endpoint)
        )

    @strawberry.mutation(permission_classes=[Allowed])
    async def send_test_webhook(
        self, info: Info, endpoint_id: strawberry.ID
    ) -> WebhookMessagePayload:
        """Queue a `webhook.test` event for this endpoint."""
        ctx = info.context
        message = await ctx.services.webhook_messages.send_test(
            ctx.principal, parse_id(endpoint_id, "endpointId")
        )
        return WebhookMessagePayload(message=WebhookMessage.from_model(message))

    @strawberry.mutation(permission_classes=[Allowed])
    async def replay_webhook_message(self, info: Info, id: strawberry.ID) -> WebhookMessagePayload:
        """Send a message again now, with the same `webhook-id`."""
        ctx = info.context
        message = await ctx.services.webhook_messages.replay(ctx.principal, parse_id(id))
        return WebhookMessagePayload(message=WebhookMessage.from_model(message))

    @strawberry.mutation(permission_classes=[Allowed])
    async def recover_webhook_messages(
        self, info: Info, endpoint_id: strawberry.ID, *, since: datetime
    ) -> RecoverWebhookMessagesPayload:
        """Send again every message to the endpoint that failed since `since`."""
        ctx = info.context
        count = await ctx.services.webhook_messages.recover(
            ctx.principal, parse_id(endpoint_id, "endpointId"), since=since
        )
        return RecoverWebhookMessagesPayload(count=count)
