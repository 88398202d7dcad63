"""Webhook endpoint, message, attempt and event-type types."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import cast

import strawberry
from strawberry.scalars import JSON

from tollway.errors import BadUserInput
from tollway.models import AttemptTrigger, MessageStatus
from tollway.models import WebhookAttempt as WebhookAttemptModel
from tollway.models import WebhookEndpoint as WebhookEndpointModel
from tollway.models import WebhookMessage as WebhookMessageModel
from tollway.schema.context import Info
from tollway.schema.permissions import Allowed
from tollway.webhooks.outbox import body_of
from tollway.webhooks.signing import message_id

strawberry.enum(MessageStatus)
strawberry.enum(AttemptTrigger)

MAX_STATS_HOURS = 24 * 90


@strawberry.type
class WebhookHeader:
    """A custom header sent with every delivery (values are not shown back)."""

    name: str


@strawberry.input
class WebhookHeaderInput:
    """A custom header to send with every delivery."""

    name: str
    value: str


@strawberry.type
class WebhookEndpointStats:
    """Deliveries over a period and the messages waiting or given up."""

    attempts: int
    succeeded: int
    failed: int
    success_rate: float | None
    pending_messages: int
    failed_messages: int


@strawberry.type
class WebhookEndpoint:
    """Where a tenant's events are POSTed."""

    id: strawberry.ID
    tenant_id: strawberry.ID
    url: str
    description: str
    event_types: list[str]
    headers: list[WebhookHeader]
    rate_limit_per_second: int | None
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    secret_rotated_at: datetime | None
    previous_secret_expires_at: datetime | None
    failing_since: datetime | None
    last_success_at: datetime | None
    created_at: datetime
    updated_at: datetime
    model: strawberry.Private[WebhookEndpointModel]

    @strawberry.field(permission_classes=[Allowed])
    async def stats(self, info: Info, hours: int = 24) -> WebhookEndpointStats:
        """Attempts and success rate over the last `hours` (at most 90 days)."""
        if not 1 <= hours <= MAX_STATS_HOURS:
            raise BadUserInput(f"hours must be between 1 and {MAX_STATS_HOURS}")
        since = datetime.now(UTC) - timedelta(hours=hours)
        data = await info.context.services.webhook_endpoints.stats(self.model, since)
        return WebhookEndpointStats(**asdict(data))

    @classmethod
    def from_model(cls, e: WebhookEndpointModel) -> WebhookEndpoint:
        """From the stored endpoint (never its secrets)."""
        return cls(
            id=strawberry.ID(str(e.id)), tenant_id=strawberry.ID(str(e.tenant_id)), url=e.url,
            description=e.description, event_types=list(e.event_types),
            headers=[WebhookHeader(name=n) for n in e.headers],
            rate_limit_per_second=e.rate_limit_per_second, enabled=e.enabled,
            disabled_reason=e.disabled_reason, disabled_at=e.disabled_at,
            secret_rotated_at=e.secret_rotated_at,
            previous_secret_expires_at=e.previous_secret_expires_at,
            failing_since=e.failing_since, last_success_at=e.last_success_at,
            created_at=e.created_at, updated_at=e.updated_at, model=e,
        )  # fmt: skip


@strawberry.input
class CreateWebhookEndpointInput:
    """A new endpoint. No event types means every event type."""

    tenant_id: strawberry.ID
    url: str
    event_types: list[str] = strawberry.field(default_factory=list)
    description: str = ""
    headers: list[WebhookHeaderInput] = strawberry.field(default_factory=list)
    rate_limit_per_second: int | None = None
    enabled: bool = True


@strawberry.input
class UpdateWebhookEndpointInput:
    """Fields to change; omitted ones stay. `headers` replaces every custom header."""

    url: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    event_types: list[str] | None = strawberry.UNSET
    headers: list[WebhookHeaderInput] | None = strawberry.UNSET
    rate_limit_per_second: int | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET


@strawberry.type
class WebhookEndpointWithSecret:
    """An endpoint and its signing secret, shown this once."""

    secret: str
    endpoint: WebhookEndpoint


@strawberry.type
class WebhookMessage:
    """One event for one endpoint, with its delivery state."""

    id: strawberry.ID
    webhook_id: str
    """The `webhook-id` header: the same on every retry and replay."""
    endpoint_id: strawberry.ID
    tenant_id: strawberry.ID
    event_id: strawberry.ID
    event_type: str
    status: MessageStatus
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    payload: JSON
    """The body as delivered: `{"type", "timestamp", "data"}`."""

    @classmethod
    def from_model(cls, m: WebhookMessageModel) -> WebhookMessage:
        """From a stored message with its event fetched."""
        return cls(
            id=strawberry.ID(str(m.id)), webhook_id=message_id(m.id),
            endpoint_id=strawberry.ID(str(m.endpoint_id)),
            tenant_id=strawberry.ID(str(m.tenant_id)),
            event_id=strawberry.ID(str(m.event_id)), event_type=m.event_type,
            status=m.status,
            attempts=m.attempts,
            next_attempt_at=m.next_attempt_at if m.status is MessageStatus.PENDING else None,
            created_at=m.created_at, delivered_at=m.delivered_at,
            last_attempt_at=m.last_attempt_at, last_status_code=m.last_status_code,
            last_error=m.last_error, payload=cast(JSON, body_of(m.event)),
        )  # fmt: skip


@strawberry.type
class WebhookMessagePayload:
    """The message a mutation queued."""

    message: WebhookMessage


@strawberry.type
class WebhookAttempt:
    """One delivery attempt and the answer."""

    id: strawberry.ID
    message_id: strawberry.ID
    endpoint_id: strawberry.ID
    attempted_at: datetime
    trigger: AttemptTrigger
    succeeded: bool
    status_code: int | None
    latency_ms: float
    response_headers: JSON
    response_body: str
    """The first 4 KiB of the response body."""
    error: str | None

    @classmethod
    def from_model(cls, a: WebhookAttemptModel) -> WebhookAttempt:
        """From a stored attempt."""
        return cls(
            id=strawberry.ID(str(a.id)), message_id=strawberry.ID(str(a.message_id)),
            endpoint_id=strawberry.ID(str(a.endpoint_id)), attempted_at=a.attempted_at,
            trigger=a.trigger, succeeded=a.succeeded, status_code=a.status_code,
            latency_ms=a.latency_ms, response_headers=cast(JSON, a.response_headers),
            response_body=a.response_body, error=a.error,
        )  # fmt: skip


@strawberry.type
class WebhookEventType:
    """An event type endpoints can subscribe to."""

    name: str
    description: str


@strawberry.type
class RecoverWebhookMessagesPayload:
    """How many failed messages were queued again."""

    count: int


@strawberry.input
class WebhookMessageFilterInput:
    """Filters of `webhookMessages`."""

    tenant_id: strawberry.ID | None = None
    endpoint_id: strawberry.ID | None = None
    status: MessageStatus | None = None
    event_type: str | None = None
    since: datetime | None = None


@strawberry.input
class WebhookAttemptFilterInput:
    """Filters of `webhookAttempts`."""

    tenant_id: strawberry.ID | None = None
    endpoint_id: strawberry.ID | None = None
    message_id: strawberry.ID | None = None
    succeeded: bool | None = None
    since: datetime | None = None
