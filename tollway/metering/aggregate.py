"""Usage measures, and the SQL that sums them from raw events or from rollups.

Raw events are grouped in the database by bucket, dimensions and latency bin; rollup rows
carry their sketch. Both become `Measures` keyed by group in Python, where merging is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tollway.metering.dimensions import Dimension, raw_expression
from tollway.metering.sketch import LatencySketch, Percentiles, bin_sql
from tollway.sql import Dialect, Granularity, as_datetime

MICROS = Decimal(1_000_000)
COUNTERS: tuple[str, ...] = (
    "requests", "errors", "server_errors", "rejected", "request_bytes", "response_bytes",
    "units", "unpriced_units", "cost_units", "reported_cost_micros", "latency_count",
    "admitted_cost_units",
)  # fmt: skip
RAW_COUNTERS = (
    "COUNT(*)",
    "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN error_code IS NOT NULL THEN 1 ELSE 0 END)",
    "SUM(request_bytes)",
    "SUM(response_bytes)",
    "SUM(units)",
    "SUM(CASE WHEN cost IS NULL THEN units ELSE 0 END)",
    "SUM(cost_units)",
    "SUM(CAST(ROUND(COALESCE(cost, 0) * 1000000) AS BIGINT))",
    "SUM(CASE WHEN latency_ms > 0 THEN 1 ELSE 0 END)",
    "SUM(CASE WHEN error_code IS NULL THEN cost_units ELSE 0 END)",
)


@dataclass(slots=True)
class Measures:
    """What is summed per group: counts, bytes, units, reported cost and a latency sketch."""

    requests: int = 0
    errors: int = 0
    server_errors: int = 0
    rejected: int = 0
    request_bytes: int = 0
    response_bytes: int = 0
    units: int = 0
    unpriced_units: int = 0
    cost_units: int = 0
    reported_cost_micros: int = 0
    latency_count: int = 0
    admitted_cost_units: int = 0
    """Cost units of the requests Tollway admitted (no error code): what quotas count."""
    latency_sum: float = 0.0
    sketch: LatencySketch = field(default_factory=LatencySketch)

    def add_counts(self, row: dict[str, Any]) -> None:
        """Add the counters of one SQL row."""
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + int(row[name] or 0))
        self.latency_sum += float(row["latency_sum"] or 0.0)

    @property
    def reported_cost(self) -> Decimal:
        """Costs reported with the events, exact."""
        return Decimal(self.reported_cost_micros) / MICROS

    def percentiles(self) -> Percentiles:
        """p50, p95, p99 latency in ms."""
        return self.sketch.percentiles()


GroupKey = tuple[Any, ...]
KeyOf = Callable[[datetime | None, dict[str, Any]], GroupKey]


@dataclass(frozen=True, slots=True)
class UsageFilter:
    """Equality filters on dimensions (tenant and key ids as text)."""

    values: dict[Dimension, str | int] = field(default_factory=dict)

    def raw_sql(self, dialect: Dialect) -> tuple[str, list[Any]]:
        """Conditions on `usage_events`."""
        parts, params = [], []
        for dimension, value in self.values.items():
            if dimension in (Dimension.TENANT, Dimension.API_KEY):
                parts.append(f"{dimension.value} = ?")
                params.append(dialect.uuid(str(value)))
            else:
                parts.append(f"{raw_expression(dimension)} = ?")
                params.append(value)
        return "".join(f" AND {p}" for p in parts), params

    def rollup_sql(self) -> tuple[str, list[Any]]:
        """Conditions on `usage_rollups`."""
        parts = [f" AND {d.value} = ?" for d in self.values]
        return "".join(parts), list(self.values.values())


def raw_aggregate(
    dialect: Dialect,
    dims: Sequence[Dimension],
    *,
    bucket: Granularity | None,
    flt: UsageFilter,
    start: datetime,
    end: datetime,
) -> tuple[str, list[Any]]:
    """Raw events in [start, end) grouped by bucket, `dims` and latency bin, written with `?`
    placeholders (number them with `Dialect.sql`, after nesting if need be)."""
    bucket_sql = dialect.trunc(bucket, "at") if bucket else "NULL"
    dim_sql = "".join(f", {raw_expression(d)} AS {d.value}" for d in dims)
    bin_expr = f"CASE WHEN latency_ms > 0 THEN {bin_sql('latency_ms', dialect.greatest)} END"
    counters = "".join(f", {e} AS {n}" for e, n in zip(RAW_COUNTERS, COUNTERS, strict=True))
    where, params = flt.raw_sql(dialect)
    group = ", ".join(str(i) for i in range(1, len(dims) + 3))
    sql = (
        f"SELECT {bucket_sql} AS bucket{dim_sql}, {bin_expr} AS bin{counters}, "  # noqa: S608
        f"SUM(latency_ms) AS latency_sum FROM usage_events WHERE at >= ? AND at < ?{where} "
        f"GROUP BY {group}"
    )
    return sql, [start, end, *params]


def rollup_select_sql(
    dialect: Dialect,
    granularity: Granularity,
    *,
    cube: str,
    flt: UsageFilter,
    start: datetime,
    end: datetime,
    dims: Sequence[Dimension],
    summed: bool = False,
) -> tuple[str, list[Any]]:
    """Rollup rows of one granularity and cube in [start, end); `summed` adds them up per
    bucket and group in the database and leaves the sketches out."""
    where, params = flt.rollup_sql()
    names = ["bucket", *(d.value for d in dims)]
    if summed:
        sums = [f"SUM({c}) AS {c}" for c in [*COUNTERS, "latency_sum"]]
        columns = ", ".join([*names, *sums, "NULL AS sketch"])
        group = f" GROUP BY {', '.join(names)}"
    else:
        columns = ", ".join([*names, *COUNTERS, "latency_sum", "sketch"])
        group = ""
    sql = (
        f"SELECT {columns} FROM usage_rollups WHERE granularity = ? AND cube = ? "  # noqa: S608
        f"AND bucket >= ? AND bucket < ?{where}{group}"
    )
    return dialect.sql(sql), [granularity.value, cube, start, end, *params]


def fold_raw(
    rows: Iterable[dict[str, Any]], key_of: KeyOf, *, into: dict[GroupKey, Measures]
) -> None:
    """Add raw aggregate rows (one per group and latency bin) into `into`."""
    for row in rows:
        bucket = as_datetime(row["bucket"]) if row["bucket"] is not None else None
        measures = into.setdefault(key_of(bucket, row), Measures())
        measures.add_counts(row)
        if row["bin"] is not None:
            measures.sketch.add_bin(int(row["bin"]), int(row["latency_count"]))


def fold_rollups(
    rows: Iterable[dict[str, Any]], key_of: KeyOf, *, into: dict[GroupKey, Measures]
) -> None:
    """Add rollup rows into `into`."""
    for row in rows:
        measures = into.setdefault(key_of(as_datetime(row["bucket"]), row), Measures())
        measures.add_counts(row)
        measures.sketch.merge(LatencySketch.from_json(row["sketch"]))
