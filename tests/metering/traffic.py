"""Generated usage, written as the middleware's writer writes it, and helpers to roll it up."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tollway.metering.buckets import floor
from tollway.metering.records import UsageRecord, assign_ids
from tollway.metering.rollups import SETTLE, RollupJob
from tollway.metering.sink import write_usage
from tollway.models import UsageDirtyMinute
from tollway.sql import Granularity, connection

ROUTES = ["GET /reports/{id}", "POST /orders", "GET /search"]
ERRORS = [(429, "RATE_LIMIT_EXCEEDED"), (401, "API_KEY_INVALID"), (403, "PERMISSION_DENIED")]


@dataclass
class Traffic:
    """The events written, for computing expected answers independently."""

    tenant_id: str
    key_ids: list[str]
    records: list[UsageRecord]

    def between(
        self, start: datetime, end: datetime, key_id: str | None = None
    ) -> list[UsageRecord]:
        """The events in [start, end) (of one key)."""
        return [
            r
            for r in self.records
            if start <= r.at < end and (key_id is None or r.key_id == key_id)
        ]


def usage_record(tenant: str, key: str | None, at: datetime, **fields: Any) -> UsageRecord:
    """One plain successful request (GET /things, 15 ms), with `fields` overriding."""
    values: dict[str, Any] = {
        "event_id": None, "at": at, "tenant_id": tenant, "key_id": key, "method": "GET",
        "route": "GET /things", "path": "/things", "status": 200, "error_code": None,
        "latency_ms": 15.0, "request_bytes": 0, "response_bytes": 10,
        "client_ip": "198.51.100.20", "user_agent": "test", "api_version": None,
        "cost_units": 1,
    }  # fmt: skip
    values.update(fields)
    return UsageRecord(**values)


def generate(
    tenant_id: str,
    key_ids: list[str],
    start: datetime,
    end: datetime,
    count: int,
    seed: int,
) -> list[UsageRecord]:
    """`count` events spread at random over [start, end): routes, statuses, rejections."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    records = []
    for _ in range(count):
        at = start + timedelta(seconds=rng.uniform(0, span))
        roll = rng.random()
        if roll < 0.1:
            status, code = rng.choice(ERRORS)
        elif roll < 0.15:
            status, code = 503, None
        else:
            status, code = rng.choice([200, 200, 200, 201, 404]), None
        records.append(
            UsageRecord(
                event_id=None,
                at=at.replace(microsecond=rng.randrange(1, 999_999)),
                tenant_id=tenant_id,
                key_id=rng.choice(key_ids),
                method="GET",
                route=rng.choice(ROUTES),
                path="/generated",
                status=status,
                error_code=code,
                latency_ms=round(rng.lognormvariate(3.0, 1.0), 3),
                request_bytes=rng.randrange(0, 500),
                response_bytes=rng.randrange(10, 5000),
                client_ip="198.51.100.9",
                user_agent="generator",
                api_version=None,
                cost_units=1,
            )
        )
    return records


async def write(records: list[UsageRecord]) -> None:
    """Store events as the usage writer does (ids assigned, dirty minutes marked)."""
    await assign_ids(records)
    await write_usage(records, replay=True)


async def roll_up(job: RollupJob, timeout: float = 20.0) -> None:
    """Run the rollup job until every due minute and every dirty mark is processed (another
    worker may hold the lock meanwhile)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await job.run()
        watermark = await job.watermark(connection())
        due = floor(Granularity.MINUTE, datetime.now(UTC) - SETTLE)
        pending = await UsageDirtyMinute.all().count()
        if watermark is not None and watermark >= due - timedelta(minutes=1) and not pending:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"rollups did not settle: watermark {watermark}, {pending} dirty")
        await asyncio.sleep(0.05)
