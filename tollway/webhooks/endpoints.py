"""Webhook endpoints: tenant-scoped CRUD, secret rotation with overlap, disabling, and
each endpoint's delivery statistics."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from tortoise.functions import Count
from tortoise.transactions import in_transaction

from tollway.audit.service import AuditService
from tollway.auth.principal import READ_ROLES, WRITE_ROLES, Principal
from tollway.errors import BadUserInput, NotFound
from tollway.keyring.vault import Vault
from tollway.models import MessageStatus, Tenant, WebhookAttempt, WebhookEndpoint, WebhookMessage
from tollway.pagination import Page, paginate
from tollway.text import clean_text
from tollway.webhooks.catalog import clean_filters
from tollway.webhooks.guard import check_destination, clean_url
from tollway.webhooks.outbox import WebhookOutbox, iso
from tollway.webhooks.secret_store import SIGNING_SECRET, secret_owner
from tollway.webhooks.signing import generate_secret

HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
RESERVED_HEADERS = frozenset(
    {"host", "content-type", "content-length", "connection", "transfer-encoding", "te",
     "upgrade", "user-agent", "keep-alive", "proxy-authorization", "trailer"}
)  # fmt: skip
MAX_HEADERS = 20
MAX_HEADER_BYTES = 4096
MAX_RATE = 10_000
MAX_OVERLAP = timedelta(days=7)
DEFAULT_OVERLAP_SECONDS = 86_400


@dataclass(slots=True)
class EndpointFields:
    """Fields of `createWebhookEndpoint` (updates give any subset)."""

    url: str
    description: str = ""
    event_types: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    rate_limit_per_second: int | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """Delivery attempts over a period, and messages waiting or given up."""

    attempts: int
    succeeded: int
    failed: int
    success_rate: float | None
    pending_messages: int
    failed_messages: int


def clean_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Custom headers: valid names, no CR/LF, none Tollway sets itself, at most 4 KiB."""
    if len(headers) > MAX_HEADERS:
        raise BadUserInput(f"headers: at most {MAX_HEADERS} custom headers")
    cleaned: dict[str, str] = {}
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            raise BadUserInput(f"headers: {name[:100]!r} is not a valid header name")
        lower = name.lower()
        if lower in RESERVED_HEADERS or lower.startswith("webhook-"):
            raise BadUserInput(f"headers: {name} is set by Tollway and cannot be overridden")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise BadUserInput(f"headers: the value of {name} must be one line of text")
        cleaned[lower] = value.strip()
    size = sum(len(k) + len(v.encode()) + 4 for k, v in cleaned.items())
    if size > MAX_HEADER_BYTES:
        raise BadUserInput(
            f"headers: {size} bytes of custom headers; at most {MAX_HEADER_BYTES} are allowed"
        )
    return cleaned


def _rate(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= MAX_RATE:
        raise BadUserInput(f"rateLimitPerSecond must be between 1 and {MAX_RATE}")
    return value


async def owned_endpoint(principal: Principal, endpoint_id: UUID) -> WebhookEndpoint:
    """The endpoint, if the principal may see it (NOT_FOUND otherwise: the access policy has
    already refused another tenant's id with FORBIDDEN)."""
    endpoint = await WebhookEndpoint.get_or_none(id=endpoint_id)
    if endpoint is None or not principal.sees(endpoint.tenant_id):
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return endpoint


async def disable_endpoint(
    endpoint: WebhookEndpoint, reason: str, *, now: datetime, outbox: WebhookOutbox
) -> None:
    """Stop delivering to `endpoint`: waiting messages fail (recoverable later) and an
    `endpoint.disabled` event goes to the tenant's other endpoints. Call in a transaction."""
    endpoint.enabled = False
    endpoint.disabled_reason = reason[:300]
    endpoint.disabled_at = now
    await endpoint.save(update_fields=["enabled", "disabled_reason", "disabled_at", "updated_at"])
    await WebhookMessage.filter(endpoint_id=endpoint.id, status=MessageStatus.PENDING).update(
        status=MessageStatus.FAILED, next_attempt_at=None, last_error=f"endpoint disabled: {reason}"
    )
    await outbox.emit(
        endpoint.tenant_id,
        "endpoint.disabled",
        data={"endpointId": str(endpoint.id), "url": endpoint.url, "reason": reason,
         "disabledAt": iso(now)},
        now=now,
    )  # fmt: skip


class WebhookEndpointService:
    """Endpoint reads and writes, each checked against the principal's role and tenant."""

    def __init__(
        self,
        audit: AuditService,
        outbox: WebhookOutbox,
        *,
        vault: Vault,
        allow_private: bool,
        max_page_size: int,
    ) -> None:
        self._audit = audit
        self._outbox = outbox
        self._vault = vault
        self._allow_private = allow_private
        self._max_page_size = max_page_size

    async def _url(self, url: str) -> str:
        cleaned = clean_url(url)
        await check_destination(cleaned, self._allow_private)
        return cleaned

    async def create(
        self, principal: Principal, tenant_id: UUID, *, new: EndpointFields
    ) -> tuple[WebhookEndpoint, str]:
        """A new endpoint and its signing secret (returned this once)."""
        principal.require_role(WRITE_ROLES, "create webhook endpoints")
        principal.require_tenant(tenant_id)
        values: dict[str, Any] = {
            "url": await self._url(new.url),
            "description": clean_text(new.description, "description", maximum=2000, required=False),
            "event_types": clean_filters(new.event_types),
            "headers": clean_headers(new.headers),
            "rate_limit_per_second": _rate(new.rate_limit_per_second),
            "enabled": new.enabled,
        }
        if not await Tenant.exists(id=tenant_id):
            raise NotFound(f"tenant {tenant_id} not found")
        secret, endpoint_id = generate_secret(), uuid4()
        async with in_transaction():
            sealed = await self._vault.seal(
                secret_owner(endpoint_id, tenant_id), SIGNING_SECRET, plaintext=secret
            )
            endpoint = await WebhookEndpoint.create(
                id=endpoint_id, tenant_id=tenant_id, secret=sealed, **values
            )
            entry = await self._audit.record(
                principal,
                "webhook_endpoint.create",
                target_type="webhook_endpoint",
                target_id=endpoint.id,
                tenant_id=tenant_id,
                changes={**values, "headers": sorted(values["headers"])},
            )
        self._audit.announce(entry)
        return endpoint, secret

    async def update(
        self, principal: Principal, endpoint_id: UUID, *, changes: dict[str, Any]
    ) -> WebhookEndpoint:
        """Change any field; enabling a disabled endpoint clears its failure record."""
        principal.require_role(WRITE_ROLES, "update webhook endpoints")
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "url":
                values["url"] = await self._url(value)
            elif name == "description":
                values[name] = clean_text(value or "", "description", maximum=2000, required=False)
            elif name == "event_types":
                values[name] = clean_filters(value or [])
            elif name == "headers":
                values[name] = clean_headers(value or {})
            elif name == "rate_limit_per_second":
                values[name] = _rate(value)
            elif name == "enabled":
                if value is None:
                    raise BadUserInput("enabled must be true or false")
                values[name] = value
            else:
                raise BadUserInput(f"{name} cannot be updated")
        if not values:
            raise BadUserInput("nothing to update: give at least one field")
        now = datetime.now(UTC)
        async with in_transaction():
            endpoint = await owned_endpoint(principal, endpoint_id)
            was_enabled = endpoint.enabled
            enabled = values.pop("enabled", was_enabled)
            endpoint.update_from_dict(values)
            await endpoint.save()
            if was_enabled and not enabled:
                await disable_endpoint(endpoint, f"disabled by {principal.subject}", now=now,
                                       outbox=self._outbox)  # fmt: skip
            elif enabled and not was_enabled:
                endpoint.enabled = True
                endpoint.disabled_reason = endpoint.disabled_at = endpoint.failing_since = None
                await endpoint.save()
            entry = await self._audit.record(
                principal,
                "webhook_endpoint.update",
                target_type="webhook_endpoint",
                target_id=endpoint.id,
                tenant_id=endpoint.tenant_id,
                changes={
                    **values,
                    **({"headers": sorted(values["headers"])} if "headers" in values else {}),
                    "enabled": enabled,
                },
            )
        self._audit.announce(entry)
        return endpoint

    async def delete(self, principal: Principal, endpoint_id: UUID) -> WebhookEndpoint:
        """Remove the endpoint, its messages and its attempt log."""
        principal.require_role(WRITE_ROLES, "delete webhook endpoints")
        async with in_transaction():
            endpoint = await owned_endpoint(principal, endpoint_id)
            entry = await self._audit.record(
                principal,
                "webhook_endpoint.delete",
                target_type="webhook_endpoint",
                target_id=endpoint.id,
                tenant_id=endpoint.tenant_id,
                changes={"url": endpoint.url},
            )
            await WebhookAttempt.filter(endpoint_id=endpoint.id).delete()
            await endpoint.delete()
            await self._vault.forget(secret_owner(endpoint.id, endpoint.tenant_id))
        self._audit.announce(entry)
        return endpoint

    async def rotate_secret(
        self, principal: Principal, endpoint_id: UUID, *, overlap_seconds: int
    ) -> tuple[WebhookEndpoint, str]:
        """A new secret; the current one keeps signing alongside it for `overlap_seconds`."""
        principal.require_role(WRITE_ROLES, "rotate webhook secrets")
        if not 0 <= overlap_seconds <= MAX_OVERLAP.total_seconds():
            raise BadUserInput(f"overlapSeconds must be between 0 and {MAX_OVERLAP.days} days")
        now = datetime.now(UTC)
        secret = generate_secret()
        async with in_transaction():
            endpoint = await owned_endpoint(principal, endpoint_id)
            endpoint.previous_secret = endpoint.secret if overlap_seconds else None
            endpoint.previous_secret_expires_at = (
                now + timedelta(seconds=overlap_seconds) if overlap_seconds else None
            )
            endpoint.secret = await self._vault.seal(
                secret_owner(endpoint.id, endpoint.tenant_id), SIGNING_SECRET, plaintext=secret
            )
            endpoint.secret_rotated_at = now
            await endpoint.save()
            entry = await self._audit.record(
                principal,
                "webhook_endpoint.rotate_secret",
                target_type="webhook_endpoint",
                target_id=endpoint.id,
                tenant_id=endpoint.tenant_id,
                changes={"overlap_seconds": overlap_seconds},
            )
        self._audit.announce(entry)
        return endpoint, secret

    async def get(self, principal: Principal, endpoint_id: UUID) -> WebhookEndpoint:
        """One endpoint of the principal's tenant."""
        principal.require_role(READ_ROLES, "read webhook endpoints")
        return await owned_endpoint(principal, endpoint_id)

    async def list(
        self,
        principal: Principal,
        tenant_id: UUID | None,
        *,
        enabled: bool | None,
        first: int | None,
        after: str | None,
    ) -> Page[WebhookEndpoint]:
        """Oldest first."""
        principal.require_role(READ_ROLES, "read webhook endpoints")
        query = WebhookEndpoint.all()
        scope = principal.scope_tenant(tenant_id)
        if scope is not None:
            query = query.filter(tenant_id=scope)
        if enabled is not None:
            query = query.filter(enabled=enabled)
        return await paginate(
            query, first=first, after=after, sort_field="created_at", descending=False,
            max_page_size=self._max_page_size,
        )  # fmt: skip

    async def stats(self, endpoint: WebhookEndpoint, since: datetime) -> EndpointStats:
        """Attempts since `since` and their success rate; messages pending or failed."""
        attempts = (
            await WebhookAttempt.filter(endpoint_id=endpoint.id, attempted_at__gte=since)
            .group_by("succeeded")
            .annotate(n=Count("id"))
            .values_list("succeeded", "n")
        )
        by_outcome = {bool(ok): int(n) for ok, n in attempts}
        messages = (
            await WebhookMessage.filter(
                endpoint_id=endpoint.id, status__in=[MessageStatus.PENDING, MessageStatus.FAILED]
            )
            .group_by("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        by_status = {MessageStatus(s): int(n) for s, n in messages}
        ok, failed = by_outcome.get(True, 0), by_outcome.get(False, 0)
        total = ok + failed
        return EndpointStats(
            attempts=total, succeeded=ok, failed=failed,
            success_rate=None if total == 0 else round(ok / total, 4),
            pending_messages=by_status.get(MessageStatus.PENDING, 0),
            failed_messages=by_status.get(MessageStatus.FAILED, 0),
        )  # fmt: skip
