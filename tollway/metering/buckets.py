"""Time buckets, and how a range is split between rollups and raw events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tollway.sql import Granularity

STEP = {
    Granularity.MINUTE: timedelta(minutes=1),
    Granularity.HOUR: timedelta(hours=1),
    Granularity.DAY: timedelta(days=1),
}
COARSEST_FIRST = (Granularity.DAY, Granularity.HOUR, Granularity.MINUTE)


def floor(granularity: Granularity, moment: datetime) -> datetime:
    """The start of the UTC bucket holding `moment`."""
    if granularity is Granularity.MINUTE:
        return moment.replace(second=0, microsecond=0)
    if granularity is Granularity.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def ceil(granularity: Granularity, moment: datetime) -> datetime:
    """The first bucket start at or after `moment`."""
    start = floor(granularity, moment)
    return start if start == moment else start + STEP[granularity]


@dataclass(frozen=True, slots=True)
class Segment:
    """A part of a range answered by one source: a rollup granularity, or raw events (None)."""

    source: Granularity | None
    start: datetime
    end: datetime


def plan_segments(
    start: datetime,
    end: datetime,
    *,
    watermark: datetime | None,
    finest_rollup: dict[Granularity, datetime] | None = None,
    coarsest: Granularity = Granularity.DAY,
    available: tuple[Granularity, ...] = COARSEST_FIRST,
) -> list[Segment]:
    """Cover [start, end) with the fewest rows: whole days from day rollups, whole hours from
    hour rollups, whole minutes from minute rollups, and raw events for the ragged edges and
    for everything at or after `watermark` (not rolled up yet).

    `finest_rollup[g]` is the oldest bucket start that rollup `g` still keeps (retention);
    older parts fall to a finer source. No rollup coarser than `coarsest` is used (a series
    at hourly granularity cannot use day rollups), and only the `available` ones.
    """
    if start >= end:
        return []
    rolled_end = end if watermark is None else min(end, watermark)
    segments: list[Segment] = []
    if start < rolled_end:
        levels = [g for g in COARSEST_FIRST if _not_coarser(g, coarsest) and g in available]
        segments = _split(start, rolled_end, levels, finest_rollup or {})
    if watermark is not None and max(start, watermark) < end:
        segments.append(Segment(None, max(start, watermark), end))
    return _merge_raw(segments)


def _not_coarser(level: Granularity, coarsest: Granularity) -> bool:
    return STEP[level] <= STEP[coarsest]


def _split(
    start: datetime, end: datetime, levels: list[Granularity], kept: dict[Granularity, datetime]
) -> list[Segment]:
    if not levels:
        return [Segment(None, start, end)]
    level, finer = levels[0], levels[1:]
    inner_start = max(ceil(level, start), ceil(level, kept[level]) if level in kept else start)
    inner_end = floor(level, end)
    if inner_start >= inner_end:
        return _split(start, end, finer, kept)
    return [
        *(_split(start, inner_start, finer, kept) if start < inner_start else []),
        Segment(level, inner_start, inner_end),
        *(_split(inner_end, end, finer, kept) if inner_end < end else []),
    ]


def _merge_raw(segments: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for segment in segments:
        previous = merged[-1] if merged else None
        if previous and previous.source is None and segment.source is None:
            merged[-1] = Segment(None, previous.start, segment.end)
        else:
            merged.append(segment)
    return merged
