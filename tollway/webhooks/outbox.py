"""The webhook outbox: an event and one message per interested endpoint, written in the
transaction of the change that caused it (so a change never commits without its event, nor
an event without its change). The dispatcher delivers from here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from tollway.models import MessageStatus, WebhookEndpoint, WebhookEvent, WebhookMessage
from tollway.signals import Signals, Topic
from tollway.webhooks.catalog import EVENT_TYPES, accepts


def iso(moment: datetime) -> str:
    """RFC 3339 UTC with a `Z`, as webhook payloads carry timestamps."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def body_of(event: WebhookEvent) -> dict[str, Any]:
    """The JSON body POSTed for an event: `{"type", "timestamp", "data"}`."""
    return {"type": event.type, "timestamp": iso(event.created_at), "data": event.data}


class WebhookOutbox:
    """Stores events for the endpoints that want them, and announces them to dispatchers."""

    def __init__(self, signals: Signals | None = None) -> None:
        self.signals = signals

    async def emit(
        self,
        tenant_id: UUID | None,
        event_type: str,
        *,
        data: dict[str, Any],
        now: datetime | None = None,
        only_endpoint: UUID | None = None,
    ) -> list[WebhookMessage]:
        """Store `event_type` for every enabled endpoint of the tenant whose filter takes it
        (or only `only_endpoint`). Call inside the change's transaction. Events of no tenant,
        or that no endpoint wants, are not stored."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event type {event_type!r}")
        if tenant_id is None:
            return []
        query = WebhookEndpoint.filter(tenant_id=tenant_id, enabled=True)
        if only_endpoint is not None:
            query = query.filter(id=only_endpoint)
        endpoints = await query.values_list("id", "event_types")
        wanted = [eid for eid, filters in endpoints if accepts(list(filters or []), event_type)]
        if not wanted:
            return []
        moment = now or datetime.now(UTC)
        event = await WebhookEvent.create(
            id=uuid4(), tenant_id=tenant_id, type=event_type, data=data, created_at=moment
        )
        messages = [
            WebhookMessage(
                id=uuid4(),
                event_id=event.id,
                endpoint_id=endpoint_id,
                tenant_id=tenant_id,
                event_type=event_type,
                status=MessageStatus.PENDING,
                next_attempt_at=moment,
                created_at=moment,
            )
            for endpoint_id in wanted
        ]
        await WebhookMessage.bulk_create(messages)
        if self.signals is not None:
            # Before the caller's transaction commits: a dispatcher woken too early finds
            # nothing and looks again a moment later (`WebhookDispatcher.run`).
            self.signals.announce(Topic.WEBHOOKS)
        return messages
