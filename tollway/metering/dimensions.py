"""The dimensions usage is rolled up and grouped by, and the cubes that hold them.

A cube is a rollup at one set of dimensions. Small cubes answer the common questions
(a tenant's or a key's totals over a month) from a few rows; the detail cube answers any
grouping. Dimensions a cube does not hold are stored as the empty value ('' or 0), which is
also how a missing value (no key, no service) is stored, so rollup rows are unique.
"""

from __future__ import annotations

from enum import StrEnum

from tollway.sql import Granularity


class Dimension(StrEnum):
    """A rollup dimension, named by its column."""

    TENANT = "tenant_id"
    API_KEY = "key_id"
    ROUTE = "route"
    METHOD = "method"
    STATUS_CLASS = "status_class"
    ERROR_CODE = "error_code"
    API_VERSION = "api_version"
    SERVICE = "service"
    UNIT_TYPE = "unit_type"


ALL_DIMENSIONS: tuple[Dimension, ...] = tuple(Dimension)
INTEGER_DIMENSIONS = frozenset({Dimension.STATUS_CLASS})

CUBES: dict[str, frozenset[Dimension]] = {
    "tenant": frozenset({Dimension.TENANT, Dimension.SERVICE, Dimension.UNIT_TYPE}),
    "key": frozenset({Dimension.TENANT, Dimension.API_KEY, Dimension.SERVICE, Dimension.UNIT_TYPE}),
    "detail": frozenset(ALL_DIMENSIONS),
}
"""Smallest first: a query uses the first cube holding every dimension it needs."""

CUBE_LEVELS: dict[str, tuple[Granularity, ...]] = {
    "tenant": (Granularity.DAY, Granularity.HOUR, Granularity.MINUTE),
    "key": (Granularity.DAY, Granularity.HOUR, Granularity.MINUTE),
    "detail": (Granularity.DAY, Granularity.HOUR),
}
"""Rollup granularities per cube. The key cube keeps minutes too (a row per active key and
minute), so that a key's use up to now (quotas, read by every alert evaluation) never reads
more than the last seconds of raw events. Minute rollups of the detail cube would hold about
one row per event, so its ragged edges (under an hour each) are read from raw events."""


def cube_for(needed: set[Dimension] | frozenset[Dimension]) -> str:
    """The smallest cube holding every dimension in `needed`."""
    for name, dims in CUBES.items():
        if needed <= dims:
            return name
    return "detail"


def raw_expression(dimension: Dimension) -> str:
    """A dimension's value in `usage_events`, with missing values stored as ''/0."""
    if dimension is Dimension.STATUS_CLASS:
        return "(status / 100)"
    if dimension in (Dimension.TENANT, Dimension.API_KEY):
        return f"COALESCE(CAST({dimension.value} AS TEXT), '')"
    return f"COALESCE({dimension.value}, '')"


def shown(dimension: Dimension, value: object) -> str | int | None:
    """A stored dimension value as clients see it (None for missing)."""
    if value in ("", 0, None):
        return None
    if dimension in INTEGER_DIMENSIONS:
        return int(str(value))
    return str(value)
