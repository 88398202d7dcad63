"""Retention: raw events, security events, integration health probes and rollups are
deleted when they age out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from tollway.sql import Granularity, connection, dialect_of
from tollway.tenants.data_policy import DataPolicyChoices, retention_choices

logger = logging.getLogger(__name__)

DELETE_BATCH = 50_000


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of data is kept (None: forever); tenants may choose their own raw
    and security event retention (`tollway.tenants.data_policy`)."""

    raw: timedelta
    minute: timedelta
    hour: timedelta
    day: timedelta | None
    security_events: timedelta = timedelta(days=90)
    integration_checks: timedelta = timedelta(days=30)
    """Health probes of integrations (uptime is shown over at most 7 days)."""


class AgedRows(NamedTuple):
    """A table whose rows age out by their `at`, and which tenant choice governs them."""

    table: str
    choice: str
    """The `DataPolicyChoices` field a tenant sets its own retention with."""


RAW_EVENTS = AgedRows("usage_events", "request_log_retention_days")
SECURITY_EVENTS = AgedRows("security_events", "security_event_retention_days")


class RetentionJob:
    """Deletes what is past its retention, in batches so that no lock is held for long."""

    def __init__(
        self,
        policy: RetentionPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        batch_size: int = DELETE_BATCH,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.batch_size = batch_size

    async def run(self) -> dict[str, int]:
        """Delete expired events and rollups; returns how many rows went, per kind."""
        now = self.clock()
        chosen = await retention_choices()
        deleted = {
            "raw": await self._delete_aged(RAW_EVENTS, now, self.policy.raw, chosen),
            "security": await self._delete_aged(
                SECURITY_EVENTS, now, self.policy.security_events, chosen
            ),
            "integration_checks": await self._delete_batches(
                "integration_checks", "", [now - self.policy.integration_checks]
            ),
        }
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

    async def _delete_aged(
        self, rows: AgedRows, now: datetime, keep: timedelta,
        chosen: dict[str, DataPolicyChoices],
    ) -> int:  # fmt: skip
        """The default retention for every tenant that chose none, then each tenant's own."""
        dialect = dialect_of(connection())
        tenant_of = dialect.uuid
        own = {t: days for t, c in chosen.items() if (days := getattr(c, rows.choice)) is not None}
        marks = ", ".join("?" * len(own))
        others = f" AND (tenant_id IS NULL OR tenant_id NOT IN ({marks}))" if own else ""
        parameters = [now - keep, *map(tenant_of, own)]
        total = await self._delete_batches(rows.table, others, parameters)
        for tenant, days in own.items():
            total += await self._delete_batches(
                rows.table, " AND tenant_id = ?", [now - timedelta(days=days), tenant_of(tenant)]
            )
        return total

    async def _delete_batches(self, table: str, where: str, parameters: list[Any]) -> int:
        client = connection()
        sql = dialect_of(client).sql(
            f"DELETE FROM {table} WHERE id IN "  # noqa: S608 - fixed table names
            f"(SELECT id FROM {table} WHERE at < ?{where} LIMIT ?)"
        )
        total = 0
        while True:
            count = await client.execute_query(sql, [*parameters, self.batch_size])
            removed = int(count[0])
            total += removed
            if removed < self.batch_size:
                return total

    async def _delete_rollups(self, granularity: Granularity, before: datetime) -> int:
        client = connection()
        sql = dialect_of(client).sql(
            "DELETE FROM usage_rollups WHERE granularity = ? AND bucket < ?"
        )
        count = await client.execute_query(sql, [granularity.value, before])
        return int(count[0])
