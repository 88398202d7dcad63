"""Webhook messages and attempts: listing, test sends, replays and recovery."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from tollway.audit.service import AuditService
from tollway.auth.principal import READ_ROLES, WRITE_ROLES, Principal
from tollway.errors import BadUserInput, Conflict, NotFound
from tollway.models import (
    AttemptTrigger,
    MessageStatus,
    WebhookAttempt,
    WebhookMessage,
)
from tollway.pagination import Page, paginate
from tollway.webhooks.endpoints import owned_endpoint
from tollway.webhooks.outbox import WebhookOutbox, iso

MAX_RECOVER = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """Filters of `webhookMessages`."""

    tenant_id: UUID | None = None
    endpoint_id: UUID | None = None
    status: MessageStatus | None = None
    event_type: str | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class AttemptFilter:
    """Filters of `webhookAttempts`."""

    tenant_id: UUID | None = None
    endpoint_id: UUID | None = None
    message_id: UUID | None = None
    succeeded: bool | None = None
    since: datetime | None = None


class WebhookMessageService:
    """What was sent where, and sending it again."""

    def __init__(self, audit: AuditService, outbox: WebhookOutbox, *, max_page_size: int) -> None:
        self._audit = audit
        self._outbox = outbox
        self._max_page_size = max_page_size

    async def get(self, principal: Principal, message_id: UUID) -> WebhookMessage:
        """One message, with its event."""
        principal.require_role(READ_ROLES, "read webhook messages")
        message = await WebhookMessage.get_or_none(id=message_id).select_related("event")
        if message is None or not principal.sees(message.tenant_id):
            raise NotFound(f"webhook message {message_id} not found")
        return message

    async def list(
        self, principal: Principal, flt: MessageFilter, *, first: int | None, after: str | None
    ) -> Page[WebhookMessage]:
        """Newest first."""
        principal.require_role(READ_ROLES, "read webhook messages")
        query: QuerySet[WebhookMessage] = WebhookMessage.all().select_related("event")
        scope = principal.scope_tenant(flt.tenant_id)
        if scope is not None:
            query = query.filter(tenant_id=scope)
        if flt.endpoint_id is not None:
            query = query.filter(endpoint_id=flt.endpoint_id)
        if flt.status is not None:
            query = query.filter(status=flt.status)
        if flt.event_type:
            query = query.filter(event_type=flt.event_type)
        if flt.since is not None:
            query = query.filter(created_at__gte=flt.since)
        return await paginate(
            query, first=first, after=after, sort_field="created_at", descending=True,
            max_page_size=self._max_page_size,
        )  # fmt: skip

    async def attempts(
        self, principal: Principal, flt: AttemptFilter, *, first: int | None, after: str | None
    ) -> Page[WebhookAttempt]:
        """Newest first."""
        principal.require_role(READ_ROLES, "read webhook attempts")
        query = WebhookAttempt.all()
        scope = principal.scope_tenant(flt.tenant_id)
        if scope is not None:
            query = query.filter(tenant_id=scope)
        if flt.endpoint_id is not None:
            query = query.filter(endpoint_id=flt.endpoint_id)
        if flt.message_id is not None:
            query = query.filter(message_id=flt.message_id)
        if flt.succeeded is not None:
            query = query.filter(succeeded=flt.succeeded)
        if flt.since is not None:
            query = query.filter(attempted_at__gte=flt.since)
        return await paginate(
            query, first=first, after=after, sort_field="attempted_at", descending=True,
            max_page_size=self._max_page_size,
        )  # fmt: skip

    async def send_test(self, principal: Principal, endpoint_id: UUID) -> WebhookMessage:
        """A `webhook.test` message to this endpoint only, whatever its filter."""
        principal.require_role(WRITE_ROLES, "send test webhooks")
        endpoint = await owned_endpoint(principal, endpoint_id)
        if not endpoint.enabled:
            raise Conflict("the endpoint is disabled; enable it before sending a test")
        now = datetime.now(UTC)
        async with in_transaction():
            messages = await self._outbox.emit(
                endpoint.tenant_id, "webhook.test",
                data={"endpointId": str(endpoint.id), "sentBy": principal.subject, "at": iso(now)},
                now=now, only_endpoint=endpoint.id,
            )  # fmt: skip
        return await self.get(principal, messages[0].id)

    async def replay(self, principal: Principal, message_id: UUID) -> WebhookMessage:
        """Send a message again now (same `webhook-id`), with a fresh retry schedule."""
        principal.require_role(WRITE_ROLES, "replay webhook messages")
        message = await self.get(principal, message_id)
        endpoint = await owned_endpoint(principal, message.endpoint_id)
        if not endpoint.enabled:
            raise Conflict("the endpoint is disabled; enable it before replaying")
        async with in_transaction():
            await self._requeue([message.id], AttemptTrigger.REPLAY)
            entry = await self._audit.record(
                principal,
                "webhook_message.replay",
                target_type="webhook_message",
                target_id=message.id,
                tenant_id=message.tenant_id,
                changes={"endpoint_id": str(endpoint.id)},
            )
        self._audit.announce(entry)
        return await self.get(principal, message.id)

    async def recover(self, principal: Principal, endpoint_id: UUID, *, since: datetime) -> int:
        """Send again every message to the endpoint that failed since `since`; how many."""
        principal.require_role(WRITE_ROLES, "recover webhook messages")
        now = datetime.now(UTC)
        if since > now:
            raise BadUserInput("since must not be in the future")
        if now - since > MAX_RECOVER:
            raise BadUserInput(f"since: at most {MAX_RECOVER.days} days back")
        endpoint = await owned_endpoint(principal, endpoint_id)
        if not endpoint.enabled:
            raise Conflict("the endpoint is disabled; enable it before recovering messages")
        async with in_transaction():
            ids = await WebhookMessage.filter(
                endpoint_id=endpoint.id, status=MessageStatus.FAILED, created_at__gte=since
            ).values_list("id", flat=True)
            await self._requeue([UUID(str(i)) for i in ids], AttemptTrigger.RECOVER)
            entry = await self._audit.record(
                principal,
                "webhook_endpoint.recover",
                target_type="webhook_endpoint",
                target_id=endpoint.id,
                tenant_id=endpoint.tenant_id,
                changes={"since": since.isoformat(), "messages": len(ids)},
            )
        self._audit.announce(entry)
        return len(ids)

    async def _requeue(self, ids: Sequence[UUID], trigger: AttemptTrigger) -> None:
        if ids:
            await WebhookMessage.filter(id__in=ids).update(
                status=MessageStatus.PENDING,
                step=0,
                trigger=trigger,
                next_attempt_at=datetime.now(UTC),
            )
