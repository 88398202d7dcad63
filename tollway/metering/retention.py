"""Retention: raw events and rollups are deleted when they age out; client addresses can be
anonymised to their network."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tollway.metering.dialect import Granularity, connection, dialect_of

logger = logging.getLogger(__name__)

DELETE_BATCH = 50_000


def anonymize_ip(address: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network address of `address`; other text unchanged."""
    if not address:
        return address
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    prefix = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False).network_address)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of usage data is kept (None: forever)."""

    raw: timedelta
    minute: timedelta
    hour: timedelta
    day: timedelta | None


class RetentionJob:
    """Deletes what is past its retention, in batches so that no lock is held for long."""

    def __init__(
        self, policy: RetentionPolicy, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.policy = policy
        self.clock = clock

    async def run(self) -> dict[str, int]:
        """Delete expired raw events and rollups; returns how many rows went, per kind."""
        now = self.clock()
        deleted = {"raw": await self._delete_raw(now - self.policy.raw)}
        for granularity, keep in (
            (Granularity.MINUTE, self.policy.minute),
            (Granularity.HOUR, self.policy.hour),
            (Granularity.DAY, self.policy.day),
        ):
            if keep is not None:
                deleted[granularity.value.lower()] = await self._delete_rollups(
                    granularity, now - keep
                )
        if any(deleted.values()):
            logger.info("retention deleted %s", deleted)
        return deleted

    async def _delete_raw(self, before: datetime) -> int:
        client = connection()
        dialect = dialect_of(client)
        total = 0
        while True:
            sql = dialect.sql(
                "DELETE FROM usage_events WHERE id IN "
                "(SELECT id FROM usage_events WHERE at < ? LIMIT ?)"
            )
            count = await client.execute_query(sql, [before, DELETE_BATCH])
            removed = int(count[0])
            total += removed
            if removed < DELETE_BATCH:
                return total

    async def _delete_rollups(self, granularity: Granularity, before: datetime) -> int:
        client = connection()
        sql = dialect_of(client).sql(
            "DELETE FROM usage_rollups WHERE granularity = ? AND bucket < ?"
        )
        count = await client.execute_query(sql, [granularity.value, before])
        return int(count[0])
