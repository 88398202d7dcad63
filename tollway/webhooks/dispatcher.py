"""The dispatcher: claims due messages, signs and POSTs them, records every attempt and
schedules retries. Several dispatchers (processes or instances) may run against one database.

Claiming moves a message's `next_attempt_at` past a lease (with `FOR UPDATE SKIP LOCKED` on
PostgreSQL, so concurrent dispatchers take different rows). A dispatcher that dies
mid-delivery leaves the message due again when the lease ends: delivery is at least once, and
a repeat carries the same `webhook-id`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from tollway.errors import ConfigurationError
from tollway.keyring.vault import Vault
from tollway.models import (
    MessageStatus,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)
from tollway.ratelimit.limiter import Limiter
from tollway.ratelimit.types import Window
from tollway.signals import Counts, Signals, Topic
from tollway.sql import as_datetime, connection, dialect_of
from tollway.webhooks.delivery import Outcome, Sender
from tollway.webhooks.endpoints import disable_endpoint
from tollway.webhooks.outbox import WebhookOutbox, body_of
from tollway.webhooks.secret_store import SIGNING_SECRET, secret_owner
from tollway.webhooks.signing import Signer, message_id

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER = timedelta(hours=24)
CLAIM_SQL = (
    "UPDATE webhook_messages SET next_attempt_at = ? WHERE id IN ("
    "SELECT id FROM webhook_messages WHERE status = 'PENDING' AND next_attempt_at <= ? "
    "ORDER BY next_attempt_at LIMIT ?{lock}) RETURNING id"
)
NEXT_DUE_SQL = "SELECT MIN(next_attempt_at) AS due FROM webhook_messages WHERE status = 'PENDING'"
MAX_IDLE_SECONDS = 300.0
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    """How deliveries are retried, leased and batched (from the `webhook_*` settings)."""

    schedule: tuple[float, ...]
    """Seconds before each retry after a failed attempt (the first attempt is immediate)."""
    lease_seconds: float
    disable_after: timedelta
    max_in_flight: int
    poll_seconds: float
    batch_size: int = 200


@dataclass(frozen=True, slots=True)
class Result:
    """A claimed message and what happened to it (`outcome` None: deferred by the limit)."""

    message: WebhookMessage
    attempted_at: datetime
    outcome: Outcome | None
    defer_seconds: float = 0.0
    skipped: str | None = None
    """Why the message was dropped unsent (its endpoint was disabled meanwhile)."""


@dataclass(frozen=True, slots=True)
class EndpointDisabled:
    """The dispatcher disabled an endpoint (it answered 410, or failed for too long)."""

    endpoint_id: UUID
    url: str
    tenant_id: UUID
    reason: str
    at: datetime


class WebhookDispatcher:
    """Delivers due messages until cancelled (`run`), or once (`run_once`, for tests)."""

    def __init__(
        self,
        sender: Sender,
        vault: Vault,
        *,
        outbox: WebhookOutbox,
        on_disabled: Callable[[EndpointDisabled], Awaitable[None]],
        limiter: Limiter | None,
        policy: DispatchPolicy,
        clock: Clock = _utcnow,
        signals: Signals | None = None,
    ) -> None:
        self.sender = sender
        self.vault = vault
        self.outbox = outbox
        self.on_disabled = on_disabled
        """Told of every endpoint the dispatcher disables (the alert engine raises an alert)."""
        self.limiter = limiter
        self.policy = policy
        self.clock = clock
        self.signals = signals
        self.signer = Signer()

    async def aclose(self) -> None:
        """Close the HTTP pool (the limit storage belongs to the process's connections)."""
        await self.sender.aclose()

    async def run(self) -> None:
        """Deliver continuously: keep up to `max_in_flight` deliveries going, claim more as
        they finish, and record results in batches. With nothing in flight it sleeps until
        the next message is due, a new one is announced, or its idle time passes; that time
        doubles from `poll_seconds` up to `MAX_IDLE_SECONDS` while claims come back empty,
        which also covers an announcement made before its transaction committed."""
        in_flight: set[asyncio.Task[Result]] = set()
        idle = self.policy.poll_seconds
        try:
            while True:
                seen = self.signals.counts((Topic.WEBHOOKS,)) if self.signals else {}
                room = self.policy.max_in_flight - len(in_flight)
                claimed: list[WebhookMessage] = []
                if room > 0:
                    claimed = await self.claim(self.clock(), min(room, self.policy.batch_size))
                for message in claimed:
                    in_flight.add(asyncio.create_task(self.attempt(message)))
                if not in_flight:
                    woken = await self._rest(seen, idle)
                    idle = self.policy.poll_seconds if woken else min(2 * idle, MAX_IDLE_SECONDS)
                    continue
                idle = self.policy.poll_seconds
                wait = 0.0 if len(claimed) == self.policy.batch_size else self.policy.poll_seconds
                done, in_flight = await asyncio.wait(
                    in_flight, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                if done:
                    await self.record([task.result() for task in done])
        finally:
            for task in in_flight:
                task.cancel()

    async def _rest(self, seen: Counts, idle: float) -> bool:
        """Sleep up to `idle` seconds, less if a message falls due sooner; True when a new
        message was announced meanwhile."""
        client = connection()
        rows = await client.execute_query_dict(NEXT_DUE_SQL)
        due = as_datetime(rows[0]["due"]) if rows and rows[0]["due"] is not None else None
        if due is not None:
            idle = min(idle, max((due - self.clock()).total_seconds(), 0.0))
        if self.signals is None:
            await asyncio.sleep(idle)
            return False
        return await self.signals.wait(seen, idle)

    async def run_once(self, now: datetime | None = None) -> list[Result]:
        """Deliver every message due at `now` and record the results."""
        moment = now or self.clock()
        results: list[Result] = []
        while True:
            claimed = await self.claim(moment, self.policy.batch_size)
            if not claimed:
                return results
            batch = await asyncio.gather(*(self.attempt(m, moment) for m in claimed))
            await self.record(list(batch), moment)
            results.extend(batch)

    async def claim(self, now: datetime, limit: int) -> list[WebhookMessage]:
        """Lease up to `limit` due messages to this dispatcher, with event and endpoint."""
        client = connection()
        dialect = dialect_of(client)
        lock = " FOR UPDATE SKIP LOCKED" if dialect.postgres else ""
        sql = dialect.sql(CLAIM_SQL.format(lock=lock))
        lease_end = now + timedelta(seconds=self.policy.lease_seconds)
        rows = await client.execute_query_dict(sql, [lease_end, now, limit])
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        return await WebhookMessage.filter(id__in=ids).select_related("event", "endpoint")

    async def signing_secrets(self, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
        """The current secret, and the previous one while its overlap lasts."""
        owner = secret_owner(endpoint.id, endpoint.tenant_id)
        sealed = [endpoint.secret]
        expires = endpoint.previous_secret_expires_at
        if endpoint.previous_secret and expires is not None and expires > now:
            sealed.append(endpoint.previous_secret)
        return [
            await self.vault.open(owner, SIGNING_SECRET, sealed=text, purpose="webhook signing")
            for text in sealed
        ]

    async def attempt(self, message: WebhookMessage, now: datetime | None = None) -> Result:
        """One delivery of a claimed message (or a deferral when its endpoint is at its
        rate limit). Never raises."""
        moment = now or self.clock()
        endpoint = message.endpoint
        if not endpoint.enabled:
            return Result(message, moment, None, skipped="endpoint disabled")
        if endpoint.rate_limit_per_second and self.limiter is not None:
            decision = await self.limiter.hit(
                f"webhooks:{endpoint.id}", (Window(endpoint.rate_limit_per_second, 1),), quota=None
            )
            if not decision.allowed:
                wait = max(0.05, decision.retry_after_seconds or 1)
                return Result(message, moment, None, defer_seconds=wait)
        try:
            body = json.dumps(body_of(message.event), separators=(",", ":"))
            secrets_ = await self.signing_secrets(endpoint, moment)
            headers = self.signer.headers(
                message_id(message.id), datetime.now(UTC), body=body, secrets_=secrets_
            )
        except (ValueError, ConfigurationError) as exc:  # a secret that no longer decrypts
            return Result(message, moment, Outcome(None, 0.0, error=str(exc)))
        outcome = await self.sender.post(endpoint.url, {**endpoint.headers, **headers},
                                         body=body.encode())  # fmt: skip
        return Result(message, moment, outcome)

    async def record(self, results: list[Result], now: datetime | None = None) -> None:
        """Store attempts, move messages on, and track each endpoint's failures."""
        moment = now or self.clock()
        attempts: list[WebhookAttempt] = []
        delivered: dict[int, list[UUID]] = {}
        succeeded: set[UUID] = set()
        failing: set[UUID] = set()
        gone: dict[UUID, WebhookEndpoint] = {}
        async with in_transaction():
            for result in results:
                message, outcome = result.message, result.outcome
                if result.skipped is not None:
                    await WebhookMessage.filter(id=message.id).update(
                        status=MessageStatus.FAILED, next_attempt_at=None,
                        last_error=result.skipped,
                    )  # fmt: skip
                    continue
                if outcome is None:
                    await WebhookMessage.filter(id=message.id).update(
                        next_attempt_at=moment + timedelta(seconds=result.defer_seconds)
                    )
                    continue
                attempts.append(_attempt_row(result))
                if outcome.succeeded:
                    assert outcome.status_code is not None
                    delivered.setdefault(outcome.status_code, []).append(message.id)
                    succeeded.add(message.endpoint_id)
                    continue
                failing.add(message.endpoint_id)
                if outcome.status_code == 410:
                    gone[message.endpoint_id] = message.endpoint
                await self._failed(message, outcome, moment, result.attempted_at)
            if attempts:
                # A message deleted meanwhile (with its endpoint) keeps no attempt log.
                alive = set(
                    await WebhookMessage.filter(
                        id__in=[a.message_id for a in attempts]
                    ).values_list("id", flat=True)
                )
                attempts = [a for a in attempts if a.message_id in alive]
            if attempts:
                await WebhookAttempt.bulk_create(attempts)
            for code, ids in delivered.items():
                await WebhookMessage.filter(id__in=ids).update(
                    status=MessageStatus.DELIVERED, delivered_at=moment, last_attempt_at=moment,
                    last_status_code=code, last_error=None, next_attempt_at=None,
                    attempts=F("attempts") + 1,
                )  # fmt: skip
            if failing - succeeded:
                await WebhookEndpoint.filter(
                    id__in=list(failing - succeeded), failing_since__isnull=True
                ).update(failing_since=moment)
            if succeeded:
                await WebhookEndpoint.filter(id__in=list(succeeded)).update(
                    failing_since=None, last_success_at=moment
                )
        await self._disable_failing(failing - succeeded, gone, moment)

    async def _failed(
        self, message: WebhookMessage, outcome: Outcome, now: datetime, attempted_at: datetime
    ) -> None:
        schedule = self.policy.schedule
        step = message.step
        retry: datetime | None = None
        if outcome.status_code != 410 and step < len(schedule):
            delay = timedelta(seconds=schedule[step])
            if outcome.status_code in (429, 503) and outcome.retry_after_seconds is not None:
                delay = min(timedelta(seconds=outcome.retry_after_seconds), MAX_RETRY_AFTER)
            retry = now + delay
        await WebhookMessage.filter(id=message.id).update(
            status=MessageStatus.PENDING if retry else MessageStatus.FAILED,
            next_attempt_at=retry, step=step + 1, attempts=F("attempts") + 1,
            last_attempt_at=attempted_at, last_status_code=outcome.status_code,
            last_error=_error_text(outcome),
        )  # fmt: skip

    async def _disable_failing(
        self, failing: set[UUID], gone: dict[UUID, WebhookEndpoint], now: datetime
    ) -> None:
        """Disable endpoints that answered 410, or have failed for `disable_after`."""
        reasons = {eid: "the endpoint answered 410 Gone" for eid in gone}
        if failing:
            stale = await WebhookEndpoint.filter(
                id__in=list(failing), enabled=True,
                failing_since__lte=now - self.policy.disable_after,
            ).values_list("id", flat=True)  # fmt: skip
            days = self.policy.disable_after.total_seconds() / 86400
            for eid in stale:
                reasons.setdefault(UUID(str(eid)), f"every delivery failed for {days:g} days")
        for endpoint_id, reason in reasons.items():
            async with in_transaction():
                endpoint = await WebhookEndpoint.select_for_update().filter(id=endpoint_id).first()
                if endpoint is None or not endpoint.enabled:
                    continue
                await disable_endpoint(endpoint, reason, now=now, outbox=self.outbox)
            await self.on_disabled(
                EndpointDisabled(endpoint.id, endpoint.url, endpoint.tenant_id, reason, now)
            )


def _error_text(outcome: Outcome) -> str | None:
    if outcome.error:
        return outcome.error
    return f"HTTP {outcome.status_code}"


def _attempt_row(result: Result) -> WebhookAttempt:
    outcome = result.outcome
    assert outcome is not None
    message = result.message
    return WebhookAttempt(
        id=uuid4(), message_id=message.id, endpoint_id=message.endpoint_id,
        tenant_id=message.tenant_id, attempted_at=result.attempted_at, trigger=message.trigger,
        succeeded=outcome.succeeded, status_code=outcome.status_code,
        latency_ms=outcome.latency_ms, response_headers=outcome.headers,
        response_body=outcome.body, error=None if outcome.succeeded else _error_text(outcome),
    )  # fmt: skip
