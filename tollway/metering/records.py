"""The in-process form of a usage event, and its columns as stored."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from tollway.sql import as_uuid

T = TypeVar("T")
RawUsage = tuple[Any, ...]
"""A usage event as the request path captures it: `UsageRecord`'s fields after `event_id`, in
order, with `at` as seconds since the epoch and `cost` as text (or None). A tuple of plain
values builds in a fraction of a microsecond and marshals as is; the writer turns it into a
`UsageRecord` off the request path."""

EVENT_BYTES = 700
"""About what one buffered event costs in memory besides its path and user agent (a tuple or
record of ~20 values); buffers are bounded by it (`MAX_BUFFERED_BYTES`)."""
MAX_BUFFERED_BYTES = 64 * 1024 * 1024
"""Past this many bytes buffered in memory (as `raw_size` counts), a usage buffer goes to the
journal: long paths and user agents cannot make a stuck writer hold more."""


def event_size(path: str, user_agent: str | None) -> int:
    """The approximate memory of one buffered event with this path and user agent."""
    return EVENT_BYTES + len(path) + (len(user_agent) if user_agent else 0)


def raw_size(raw: RawUsage) -> int:
    """`event_size` of a raw event (its path is at index 5, its user agent at 12)."""
    return event_size(raw[5], raw[12])


@dataclass(slots=True)
class UsageRecord:
    """One usage event, as captured on the request path (cheap to build, no ORM).

    `event_id` may be left None on the request path: the writer assigns one before the event
    is first written or spilled, so a replay carries the same id.
    """

    event_id: UUID | None
    at: datetime
    tenant_id: str | None  # canonical UUID text, as the key cache holds it
    key_id: str | None
    method: str
    route: str
    path: str
    status: int
    error_code: str | None
    latency_ms: float
    request_bytes: int
    response_bytes: int
    client_ip: str | None
    user_agent: str | None
    api_version: str | None
    cost_units: int
    service: str | None = None
    units: int = 1
    unit_type: str = "requests"
    cost: Decimal | None = None

    def row(self) -> tuple[Any, ...]:
        """Values in `COLUMNS` order."""
        return (
            self.event_id, self.at, self.tenant_id, self.key_id, self.method, self.route,
            self.path, self.status, self.error_code, self.latency_ms, self.request_bytes,
            self.response_bytes, self.client_ip, self.user_agent, self.api_version,
            self.cost_units, self.service, self.units, self.unit_type, self.cost,
        )  # fmt: skip

    def sqlite_row(self) -> tuple[Any, ...]:
        """`row()` with the event id and cost as text, as Tortoise stores them on SQLite."""
        cost = None if self.cost is None else str(self.cost)
        return (str(self.event_id), *self.row()[1:-1], cost)

    def to_json(self) -> str:
        """One journal line."""
        return json.dumps(self.row(), default=str, separators=(",", ":"))

    def raw(self) -> RawUsage:
        """This event as the request path captures it (see `RawUsage`)."""
        cost = None if self.cost is None else str(self.cost)
        return (self.at.timestamp(), *self.row()[2:-1], cost)

    @classmethod
    def from_raw(cls, raw: RawUsage, event_id: UUID | None = None) -> UsageRecord:
        """`raw()` reversed."""
        cost = raw[-1]
        values = (
            event_id,
            datetime.fromtimestamp(raw[0], UTC),
            *raw[1:-1],
            None if cost is None else Decimal(cost),
        )
        return cls(*values)

    @classmethod
    def from_json(cls, line: str) -> UsageRecord:
        """Read a journal line back."""
        values = json.loads(line)
        record = cls(*values)
        record.event_id = as_uuid(record.event_id)
        record.at = datetime.fromisoformat(str(record.at)).astimezone(UTC)
        record.cost = None if record.cost is None else Decimal(str(record.cost))
        return record


def ensure_ids(records: Iterable[UsageRecord]) -> None:
    """Give every record without one an event id (before it is first written or spilled)."""
    missing = [r for r in records if r.event_id is None]
    if not missing:
        return
    entropy = os.urandom(16 * len(missing))  # one system call for the whole batch
    for index, record in enumerate(missing):
        record.event_id = UUID(bytes=entropy[16 * index : 16 * index + 16], version=4)


async def in_slices(records: Sequence[T]) -> AsyncIterator[Sequence[T]]:
    """A batch in slices, yielding to the event loop after each, so that work on a large
    flush never stalls the requests being served."""
    for start in range(0, len(records), YIELD_EVERY):
        yield records[start : start + YIELD_EVERY]
        await asyncio.sleep(0)


async def assign_ids(records: Sequence[UsageRecord]) -> None:
    """`ensure_ids`, slice by slice."""
    async for part in in_slices(records):
        ensure_ids(part)


async def stream_rows(
    records: Sequence[UsageRecord], convert: Callable[[UsageRecord], tuple[Any, ...]]
) -> AsyncIterator[tuple[Any, ...]]:
    """Converted rows one by one (for a streaming COPY), slice by slice."""
    async for part in in_slices(records):
        for record in part:
            yield convert(record)


async def rows_of(
    records: Sequence[UsageRecord], convert: Callable[[UsageRecord], tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Every converted row, slice by slice."""
    return [row async for row in stream_rows(records, convert)]


YIELD_EVERY = 500
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(UsageRecord))
