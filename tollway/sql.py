"""The few SQL differences between PostgreSQL and SQLite that raw queries meet, and reading
values back from either."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient


class Granularity(StrEnum):
    """Rollup and time-series bucket sizes."""

    MINUTE = "MINUTE"
    HOUR = "HOUR"
    DAY = "DAY"


_SQLITE_TRUNC = {
    Granularity.MINUTE: "substr({c}, 1, 16) || ':00+00:00'",
    Granularity.HOUR: "substr({c}, 1, 13) || ':00:00+00:00'",
    Granularity.DAY: "substr({c}, 1, 10) || ' 00:00:00+00:00'",
}
_PLACEHOLDER = re.compile(r"\?")


@dataclass(frozen=True, slots=True)
class Dialect:
    """SQL text and parameters for one database."""

    postgres: bool

    def sql(self, text: str) -> str:
        """`text` written with `?` placeholders, numbered `$n` on PostgreSQL."""
        if not self.postgres:
            return text
        counter = iter(range(1, 10_000))
        return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", text)

    def trunc(self, granularity: Granularity, column: str) -> str:
        """The start of the bucket holding `column` (a UTC timestamp)."""
        if self.postgres:  # in UTC whatever the session's time zone
            unit = granularity.value.lower()
            return f"(date_trunc('{unit}', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
        return _SQLITE_TRUNC[granularity].format(c=column)

    @property
    def greatest(self) -> str:
        """Two-argument maximum."""
        return "GREATEST" if self.postgres else "MAX"

    @property
    def timestamp(self) -> str:
        """A timestamp parameter where its type cannot be inferred (a SELECT list)."""
        return "CAST(? AS TIMESTAMPTZ)" if self.postgres else "?"

    def uuid(self, value: str | UUID) -> Any:
        """A UUID parameter compared with a UUID column."""
        return UUID(str(value)) if self.postgres else str(value)

    @property
    def true(self) -> str:
        """Boolean literal."""
        return "TRUE" if self.postgres else "1"


def connection() -> BaseDBAsyncClient:
    """The default Tortoise connection."""
    client: BaseDBAsyncClient = connections.get("default")
    return client


def dialect_of(client: BaseDBAsyncClient) -> Dialect:
    """The dialect of a Tortoise client (or transaction)."""
    module = type(client).__module__
    return Dialect(postgres="asyncpg" in module or "postgres" in module)


def as_datetime(value: Any) -> datetime:
    """A timestamp read back from either database, as an aware UTC datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def as_uuid(value: object) -> UUID | None:
    """An id read back from either database, a JSON payload or a rollup dimension (None stays
    None)."""
    return None if value is None else UUID(str(value))
