"""Live request metrics across instances.

Every instance that captures usage summarises each batch it flushes (at least once a second)
per second, tenant, key and route, with a latency sketch, and publishes the summary on the
metrics channel. A subscriber merges the summaries of every instance into one point per
interval and emits it once the interval is over and every instance has flushed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from tollway.auth.principal import READ_ROLES, Principal
from tollway.errors import BadUserInput
from tollway.events import METRICS_CHANNEL, EventBus
from tollway.metering.records import UsageRecord
from tollway.metering.sketch import LatencySketch, Percentiles, bin_of

GRACE_SECONDS = 2.5
"""An interval is emitted this long after it ends: usage is flushed at least every second."""
MAX_INTERVAL_SECONDS = 3600


def summarise(batch: Sequence[UsageRecord]) -> list[dict[str, Any]]:
    """Counters per (second, tenant, key, route) of a batch, with latency sketch bins. It runs
    on the serving event loop once per flush, so it stays one lean pass (under 2 µs an event)."""
    groups: dict[tuple[int, str, str, str], list[Any]] = {}
    for record in batch:
        group = (int(record.at.timestamp()), record.tenant_id or "", record.key_id or "",
                 record.route)  # fmt: skip
        entry = groups.get(group)
        if entry is None:
            entry = groups[group] = [0, 0, 0, {}]
        entry[0] += 1
        entry[1] += record.error_code is not None
        entry[2] += record.status >= 400
        if record.latency_ms > 0:
            bins = entry[3]
            index = bin_of(record.latency_ms)
            bins[index] = bins.get(index, 0) + 1
    return [
        {"s": s, "t": t, "k": k, "r": r, "n": n, "rejected": rejected, "errors": errors,
         "bins": bins}
        for (s, t, k, r), (n, rejected, errors, bins) in groups.items()
    ]  # fmt: skip


class LiveMetricsPublisher:
    """Publishes each flushed batch's summary (called by the usage writer)."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    def observe(self, batch: Sequence[UsageRecord]) -> None:
        """Summarise and publish without waiting."""
        if batch:
            self.publish(summarise(batch))

    def publish(self, groups: list[dict[str, Any]]) -> None:
        """Publish a summary made elsewhere (the usage writer process), without waiting."""
        if groups:
            self.bus.publish_later(METRICS_CHANNEL, {"groups": groups})


@dataclass(slots=True)
class MetricPoint:
    """One interval of merged live metrics."""

    at: datetime
    requests: int = 0
    allowed: int = 0
    rejected: int = 0
    errors: int = 0
    sketch: LatencySketch = field(default_factory=LatencySketch)

    @property
    def percentiles(self) -> Percentiles:
        """Latency percentiles of the interval."""
        return self.sketch.percentiles()


@dataclass(frozen=True, slots=True)
class MetricsFilter:
    """What a `metrics` subscriber wants."""

    interval_seconds: int = 1
    tenant_id: UUID | None = None
    key_id: UUID | None = None
    route: str | None = None


async def live_metrics(
    bus: EventBus, principal: Principal, *, flt: MetricsFilter
) -> AsyncIterator[MetricPoint]:
    """One merged point per interval, for the principal's tenant (or all, for SUPER_ADMIN)."""
    principal.require_role(READ_ROLES, "read live metrics")
    interval = flt.interval_seconds
    if not 1 <= interval <= MAX_INTERVAL_SECONDS:
        raise BadUserInput(f"intervalSeconds must be between 1 and {MAX_INTERVAL_SECONDS}")
    tenant = principal.scope_tenant(flt.tenant_id)
    wanted = (
        "" if tenant is None else str(tenant),
        "" if flt.key_id is None else str(flt.key_id),
        flt.route or "",
    )
    points: dict[int, MetricPoint] = {}
    # The first point is the current interval: it holds what was flushed after subscribing.
    first = int(time.time()) // interval * interval

    async def collect() -> None:
        async for data in bus.subscribe(METRICS_CHANNEL):
            for group in data.get("groups", ()):
                if not _matches(group, wanted):
                    continue
                start = group["s"] // interval * interval
                if start < first:
                    continue
                point = points.get(start)
                if point is None:
                    point = points[start] = MetricPoint(datetime.fromtimestamp(start, UTC))
                point.requests += group["n"]
                point.rejected += group["rejected"]
                point.allowed += group["n"] - group["rejected"]
                point.errors += group["errors"]
                point.sketch.merge(LatencySketch({int(b): c for b, c in group["bins"].items()}))

    reader = asyncio.create_task(collect())
    try:
        due = first
        while True:
            delay = due + interval + GRACE_SECONDS - time.time()
            if delay > 0:
                await asyncio.wait({reader}, timeout=delay)
            if reader.done():
                reader.result()
                return
            point = points.pop(due, None)
            yield point or MetricPoint(datetime.fromtimestamp(due, UTC))
            due += interval
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


def _matches(group: dict[str, Any], wanted: tuple[str, str, str]) -> bool:
    tenant, key, route = wanted
    return (
        (not tenant or group["t"] == tenant)
        and (not key or group["k"] == key)
        and (not route or group["r"] == route)
    )
