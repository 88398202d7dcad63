"""What the hot path notices, written in batches off the request path: security events for
every denial, and each key's request count and last use."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tortoise.expressions import F

from tollway.keys.records import KeyRecord
from tollway.keys.secrets import display_prefix
from tollway.models import ApiKey
from tollway.privacy import AddressPolicy
from tollway.sql import Dialect, connection, dialect_of

logger = logging.getLogger(__name__)
MAX_BUFFERED_EVENTS = 50_000
RISK_SCORES = {
    "API_KEY_REVOKED": 70,
    "IP_NOT_ALLOWED": 60,
    "API_KEY_INVALID": 50,
    "ADMIN_AUTH_FAILED": 50,
    "ORIGIN_NOT_ALLOWED": 40,
    "API_KEY_EXPIRED": 30,
    "PERMISSION_DENIED": 30,
    "API_KEY_MISSING": 10,
    "RATE_LIMIT_EXCEEDED": 5,
    "QUOTA_EXCEEDED": 5,
}
"""How strongly one denial of each kind suggests an attack (0-100); detectors weigh them
together (a revoked key still in use, a key tried from a foreign network)."""


class Denial(NamedTuple):
    """One denied request as the hot path notes it: a security event once written."""

    id: uuid.UUID
    at: datetime
    reason: str
    risk_score: int
    method: str
    path: str
    client_ip: str | None
    user_agent: str | None
    tenant_id: str | None
    key_id: str | None
    key_prefix: str | None


INSERT_DENIALS = (
    "INSERT INTO security_events (id, at, reason, risk_score, method, path, client_ip,"
    " user_agent, tenant_id, key_id, key_prefix) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
WRITE_SLICE = 200
"""Denials written (and published) per statement, the serving loop free in between: a flood
of refusals never stalls it for long."""
Publish = Callable[[list[Denial]], None]


def security_event_data(event: Denial) -> dict[str, Any]:
    """The JSON form of a security event, as published to live subscribers."""
    return {
        "id": str(event.id), "at": event.at.isoformat(), "reason": event.reason,
        "risk_score": event.risk_score, "client_ip": event.client_ip,
        "tenant_id": None if event.tenant_id is None else str(event.tenant_id),
        "key_id": None if event.key_id is None else str(event.key_id),
        "key_prefix": event.key_prefix, "method": event.method, "path": event.path,
        "user_agent": event.user_agent,
    }  # fmt: skip


class ActivityRecorder:
    """Buffers in memory; `flush` writes everything buffered so far."""

    def __init__(
        self, publish: Publish | None = None, addresses: AddressPolicy | None = None
    ) -> None:
        """`addresses`: how client addresses are stored, by the key's tenant (whole when no
        policy is given)."""
        self._publish = publish
        self._addresses = addresses or AddressPolicy()
        self._events: list[Denial] = []
        self._usage: dict[str, tuple[int, float]] = {}
        self.dropped_events = 0

    def denied(
        self,
        reason: str,
        *,
        method: str,
        path: str,
        client_ip: str | None,
        user_agent: str | None,
        key: KeyRecord | None,
        presented: str | None = None,
    ) -> None:
        """Remember one denied request (with its key when the secret was recognised, else
        the display prefix of the `presented` secret, never more of it)."""
        if len(self._events) >= MAX_BUFFERED_EVENTS:
            self.dropped_events += 1
            return
        client_ip = self._addresses.stored(client_ip, key.anonymize_ips if key else None)
        self._events.append(
            Denial(
                uuid.uuid4(), datetime.now(UTC), reason, RISK_SCORES.get(reason, 20),
                method[:10], path[:500], client_ip, (user_agent or "")[:300] or None,
                key.tenant_id if key else None, key.key_id if key else None,
                key.prefix if key else display_prefix(presented or ""),
            )
        )  # fmt: skip

    def used(self, key_id: str, at: float) -> None:
        """Count one request of a key."""
        count, _ = self._usage.get(key_id, (0, at))
        self._usage[key_id] = (count + 1, at)

    async def flush(self) -> None:
        """Write what is buffered; on failure whatever was not written is kept for the next
        attempt, so a database outage delays key activity but never loses it."""
        events, self._events = self._events, []
        client = connection()
        dialect = dialect_of(client)
        sql = dialect.sql(INSERT_DENIALS)
        for start in range(0, len(events), WRITE_SLICE):
            part = events[start : start + WRITE_SLICE]
            try:
                await client.execute_many(sql, [_row(e, dialect) for e in part])
            except Exception:
                self._events = events[start:] + self._events
                raise
            if self._publish is not None:
                self._publish(part)  # stored first: live subscribers are best effort
            await asyncio.sleep(0)
        usage, self._usage = list(self._usage.items()), {}
        for done, (key_id, (count, last)) in enumerate(usage):
            try:
                await ApiKey.filter(id=key_id).update(
                    total_requests=F("total_requests") + count,
                    last_used_at=datetime.fromtimestamp(last, UTC),
                )
            except Exception:
                self._keep_usage(usage[done:])
                raise

    def _keep_usage(self, unwritten: list[tuple[str, tuple[int, float]]]) -> None:
        """Merge counts that could not be written with those gathered meanwhile."""
        for key_id, (count, last) in unwritten:
            newer, at = self._usage.get(key_id, (0, last))
            self._usage[key_id] = (count + newer, max(last, at))

    async def run(
        self, *, interval: float = 1.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        """Flush every `interval` seconds (waited with `sleep`) until cancelled."""
        while True:
            await sleep(interval)
            try:
                await self.flush()
            except Exception as exc:
                logger.warning("could not write enforcement activity (%s); will retry", exc)


def _row(event: Denial, dialect: Dialect) -> list[Any]:
    tenant = None if event.tenant_id is None else dialect.uuid(event.tenant_id)
    key = None if event.key_id is None else dialect.uuid(event.key_id)
    return [
        dialect.uuid(event.id), event.at, event.reason, event.risk_score, event.method,
        event.path, event.client_ip, event.user_agent, tenant, key, event.key_prefix,
    ]  # fmt: skip
