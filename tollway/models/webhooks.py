"""Webhook endpoints, the event outbox, per-endpoint messages and their delivery attempts."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise import fields
from tortoise.models import Model


class MessageStatus(StrEnum):
    """PENDING until delivered (DELIVERED) or out of attempts or endpoint (FAILED)."""

    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class AttemptTrigger(StrEnum):
    """Why an attempt was made."""

    SCHEDULED = "SCHEDULED"
    REPLAY = "REPLAY"
    RECOVER = "RECOVER"


class WebhookEndpoint(Model):
    """Where a tenant wants its events POSTed. Secrets are stored encrypted."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "tollway.Tenant", related_name="webhook_endpoints", on_delete=fields.CASCADE
    )
    tenant_id: UUID
    url = fields.CharField(max_length=2048)
    description = fields.TextField(default="")
    event_types: fields.JSONField[list[str]] = fields.JSONField(default=list)
    """Filters such as `alert.*` or `api_key.revoked`; empty means every event type."""
    headers: fields.JSONField[dict[str, str]] = fields.JSONField(default=dict)
    rate_limit_per_second = fields.IntField(null=True)
    enabled = fields.BooleanField(default=True)
    disabled_reason = fields.CharField(max_length=300, null=True)
    disabled_at = fields.DatetimeField(null=True)
    secret = fields.TextField()
    """The current `whsec_` secret, encrypted."""
    previous_secret: str | None = fields.TextField(null=True)
    """The secret before the last rotation, encrypted; still signs until it expires."""
    previous_secret_expires_at = fields.DatetimeField(null=True)
    secret_rotated_at = fields.DatetimeField(null=True)
    failing_since = fields.DatetimeField(null=True)
    """The first failure of the current unbroken run of failures (NULL after a success)."""
    last_success_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "webhook_endpoints"
        ordering = ("created_at", "id")


class WebhookEvent(Model):
    """One event in the outbox, written in the transaction of the change that caused it."""

    id = fields.UUIDField(primary_key=True)
    tenant_id = fields.UUIDField(db_index=True)
    type = fields.CharField(max_length=60)
    data: fields.JSONField[dict[str, Any]] = fields.JSONField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "webhook_events"


class WebhookMessage(Model):
    """One event for one endpoint: what is delivered, retried and replayed.

    `next_attempt_at` is also the claim: a dispatcher pushes it past its lease before sending,
    so a dispatcher that dies mid-delivery leaves the message due again once the lease ends.
    """

    id = fields.UUIDField(primary_key=True)
    event: fields.ForeignKeyRelation[WebhookEvent] = fields.ForeignKeyField(
        "tollway.WebhookEvent", related_name="messages", on_delete=fields.CASCADE
    )
    event_id: UUID
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "tollway.WebhookEndpoint", related_name="messages", on_delete=fields.CASCADE
    )
    endpoint_id: UUID
    tenant_id = fields.UUIDField()
    event_type = fields.CharField(max_length=60)
    status = fields.CharEnumField(MessageStatus, max_length=10, default=MessageStatus.PENDING)
    attempts = fields.IntField(default=0)
    step = fields.IntField(default=0)
    """Position in the retry schedule; a replay or recovery starts it again."""
    trigger = fields.CharEnumField(AttemptTrigger, max_length=10, default=AttemptTrigger.SCHEDULED)
    next_attempt_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    delivered_at = fields.DatetimeField(null=True)
    last_attempt_at = fields.DatetimeField(null=True)
    last_status_code = fields.IntField(null=True)
    last_error = fields.TextField(null=True)

    class Meta:
        table = "webhook_messages"
        ordering = ("-created_at", "id")
        indexes = (
            ("status", "next_attempt_at"),
            ("endpoint_id", "created_at"),
            ("tenant_id", "created_at"),
        )


class WebhookAttempt(Model):
    """One HTTP delivery attempt and what came back."""

    id = fields.UUIDField(primary_key=True)
    message: fields.ForeignKeyRelation[WebhookMessage] = fields.ForeignKeyField(
        "tollway.WebhookMessage", related_name="attempt_log", on_delete=fields.CASCADE
    )
    message_id: UUID
    endpoint_id = fields.UUIDField()
    tenant_id = fields.UUIDField()
    attempted_at = fields.DatetimeField()
    trigger = fields.CharEnumField(AttemptTrigger, max_length=10)
    succeeded = fields.BooleanField()
    status_code = fields.IntField(null=True)
    latency_ms = fields.FloatField()
    response_headers: fields.JSONField[dict[str, str]] = fields.JSONField(default=dict)
    response_body = fields.TextField(default="")
    """The first 4 KiB of the response body."""
    error = fields.TextField(null=True)

    class Meta:
        table = "webhook_attempts"
        ordering = ("-attempted_at", "id")
        indexes = (("message_id", "attempted_at"), ("endpoint_id", "attempted_at"))
