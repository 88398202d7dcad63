"""A mergeable latency sketch (DDSketch) whose bins the database computes.

A DDSketch with relative accuracy `RELATIVE_ACCURACY` puts a latency `x` in bin
`ceil(ln(x) / ln(gamma))`. Because that is one SQL expression, rollups group raw events by
bin in the database and store only `{bin: count}`; sketches of any buckets and groupings
merge by adding counts, so p50/p95/p99 stay within the stated error over any range.
The `ddsketch` library does the quantile arithmetic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping

RELATIVE_ACCURACY = 0.01
"""Every quantile read from a sketch is within 1% of a true latency at that rank."""
MIN_LATENCY_MS = 0.001
_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
_INVERSE_LN_GAMMA = 1.0 / math.log(_MAPPING.gamma)


def bin_sql(column: str, greatest: str) -> str:
    """The SQL expression of a latency's bin (`greatest` is GREATEST on PostgreSQL, MAX on
    SQLite)."""
    return (
        f"CAST(CEIL(LN({greatest}({column}, {MIN_LATENCY_MS})) * {_INVERSE_LN_GAMMA!r}) AS INTEGER)"
    )


def bin_of(latency_ms: float) -> int:
    """The bin of one latency: `bin_sql`, in Python."""
    return math.ceil(math.log(max(latency_ms, MIN_LATENCY_MS)) * _INVERSE_LN_GAMMA)


class Percentiles(NamedTuple):
    """Latency percentiles in ms (None without latencies)."""

    p50: float | None
    p95: float | None
    p99: float | None


class LatencySketch:
    """Counts per bin; merge by adding, read quantiles through DDSketch."""

    __slots__ = ("bins",)

    def __init__(self, bins: Mapping[int, int] | None = None) -> None:
        self.bins: dict[int, int] = dict(bins or {})

    def add(self, latency_ms: float) -> None:
        """Count one latency, in the bin `bin_sql` would choose for it."""
        index = bin_of(latency_ms)
        self.bins[index] = self.bins.get(index, 0) + 1

    def add_bin(self, index: int, count: int) -> None:
        """Count `count` latencies in bin `index`."""
        self.bins[index] = self.bins.get(index, 0) + count

    def merge(self, other: LatencySketch) -> None:
        """Add every count of `other` (sketches of disjoint events combine exactly)."""
        for index, count in other.bins.items():
            self.bins[index] = self.bins.get(index, 0) + count

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """The latency at each quantile in ms (None for an empty sketch)."""
        if not self.bins:
            return [None for _ in qs]
        sketch = DDSketch(RELATIVE_ACCURACY)
        for index, count in self.bins.items():
            # The bin's representative value lies inside the bin, so DDSketch files it there.
            sketch.add(_MAPPING.value(index), float(count))
        return [_rounded(sketch.get_quantile_value(q)) for q in qs]

    def percentiles(self) -> Percentiles:
        """p50, p95 and p99."""
        return Percentiles(*self.quantiles((0.5, 0.95, 0.99)))

    @classmethod
    def from_json(cls, text: str | None) -> LatencySketch:
        """Read the stored form (`{"bin": count}`, as the rollup SQL writes it) back."""
        if not text:
            return cls()
        return cls({int(k): int(v) for k, v in json.loads(text).items()})


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
