"""The statements that compute rollups inside the database (no row passes through Python).

From raw events: group by bucket, dimensions and latency bin, then by bucket and dimensions,
folding the bins into the sketch with the database's JSON aggregate. From finer rollups:
sum the counters, and sum the sketches bin by bin through the JSON table function. Both
end in an upsert that replaces the bucket's row, which is what makes a re-run harmless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tollway.metering.aggregate import COUNTERS, UsageFilter, raw_aggregate
from tollway.metering.dimensions import ALL_DIMENSIONS, CUBES, INTEGER_DIMENSIONS
from tollway.sql import Dialect, Granularity

_DIMS = [d.value for d in ALL_DIMENSIONS]
_MEASURES = [*COUNTERS, "latency_sum"]
_COLUMNS = ["granularity", "cube", "bucket", *_DIMS, *_MEASURES, "sketch"]
_UPSERT_TAIL = (
    f" ON CONFLICT (granularity, cube, bucket, {', '.join(_DIMS)}) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in [*_MEASURES, "sketch"])
)
_INSERT = f"INSERT INTO usage_rollups ({', '.join(_COLUMNS)}) "


def _dim_values(cube: str, source: str) -> list[str]:
    """Each dimension's value for `cube`: from `source` when the cube holds it, else empty."""
    held = CUBES[cube]
    return [
        f"{source}.{d.value}" if d in held else ("0" if d in INTEGER_DIMENSIONS else "''")
        for d in ALL_DIMENSIONS
    ]


def _bins_object(dialect: Dialect, key: str, value: str, where: str) -> str:
    if dialect.postgres:
        return f"COALESCE((json_object_agg({key}, {value}) FILTER (WHERE {where}))::text, '{{}}')"
    return (
        f"COALESCE(json_group_object(CAST({key} AS TEXT), {value}) FILTER (WHERE {where}), '{{}}')"
    )


def from_raw(
    dialect: Dialect, granularity: Granularity, *, cube: str, start: datetime, end: datetime
) -> tuple[str, list[Any]]:
    """Rollups of `cube` at `granularity` for [start, end), from raw events."""
    held = [d for d in ALL_DIMENSIONS if d in CUBES[cube]]
    inner, params = raw_aggregate(
        dialect, held, bucket=granularity, flt=UsageFilter(), start=start, end=end
    )
    dims = _dim_values(cube, "b")
    group = ", ".join(["b.bucket", *(f"b.{d.value}" for d in held)])
    sums = ", ".join(f"SUM(b.{m})" for m in _MEASURES)
    sketch = _bins_object(dialect, "b.bin", "b.latency_count", "b.bin IS NOT NULL")
    sql = (
        f"{_INSERT}SELECT ?, ?, b.bucket, {', '.join(dims)}, {sums}, {sketch} "  # noqa: S608
        f"FROM ({inner}) b WHERE 1 = 1 GROUP BY {group}{_UPSERT_TAIL}"
    )
    return dialect.sql(sql), [granularity.value, cube, *params]


def from_finer(
    dialect: Dialect,
    granularity: Granularity,
    *,
    finer: Granularity,
    cube: str,
    start: datetime,
    end: datetime,
) -> tuple[str, list[Any]]:
    """The `granularity` bucket starting at `start` of `cube`, merged from `finer` rollups."""
    where = "r.granularity = ? AND r.cube = ? AND r.bucket >= ? AND r.bucket < ?"
    params = [finer.value, cube, start, end]
    dims = ", ".join(f"r.{d}" for d in _DIMS)  # a finer rollup of the same cube holds them
    sums = ", ".join(f"SUM(r.{m}) AS {m}" for m in _MEASURES)
    each = "json_each_text(r.sketch::json)" if dialect.postgres else "json_each(r.sketch)"
    bins = (
        f"SELECT {dims}, e.key AS bin, SUM(CAST(e.value AS BIGINT)) AS n "  # noqa: S608
        f"FROM usage_rollups r, {each} e WHERE {where} GROUP BY {dims}, e.key"
    )
    k_dims = ", ".join(f"k.{d}" for d in _DIMS)
    sketch = _bins_object(dialect, "k.bin", "k.n", "k.bin IS NOT NULL")
    sketches = f"SELECT {k_dims}, {sketch} AS sketch FROM ({bins}) k GROUP BY {k_dims}"  # noqa: S608
    totals = f"SELECT {dims}, {sums} FROM usage_rollups r WHERE {where} GROUP BY {dims}"  # noqa: S608
    join = " AND ".join(f"s.{d} = j.{d}" for d in _DIMS)
    s_dims = ", ".join(f"s.{d}" for d in _DIMS)
    s_measures = ", ".join(f"s.{m}" for m in _MEASURES)
    sql = (
        f"{_INSERT}SELECT ?, ?, {dialect.timestamp}, {s_dims}, {s_measures}, "  # noqa: S608
        "COALESCE(j.sketch, '{}') "
        f"FROM ({totals}) s LEFT JOIN ({sketches}) j ON {join} WHERE 1 = 1{_UPSERT_TAIL}"
    )
    return dialect.sql(sql), [granularity.value, cube, start, *params, *params]
