"""Component health: database, Redis, broadcaster and background-worker heartbeat."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from redis.asyncio import Redis

from tollway.db import ping_database
from tollway.errors import ServiceUnavailable
from tollway.events import EventBus
from tollway.models import WorkerHeartbeat


class HealthStatus(StrEnum):
    """Ordered from best to worst."""

    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    UNHEALTHY = "UNHEALTHY"


_RANK = {HealthStatus.HEALTHY: 0, HealthStatus.DEGRADED: 1, HealthStatus.UNHEALTHY: 2}


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """One component's state."""

    name: str
    status: HealthStatus
    latency_ms: float | None
    detail: str


@dataclass(frozen=True, slots=True)
class HealthReport:
    """Every component and the worst status among those that matter."""

    status: HealthStatus
    components: list[ComponentHealth]


class HealthChecker:
    """Runs every component check concurrently, each bounded by a timeout."""

    def __init__(
        self,
        bus: EventBus,
        redis: Redis | None,
        *,
        timeout: float,
        heartbeat_seconds: float,
    ) -> None:
        self._bus = bus
        self._redis = redis
        self._timeout = timeout
        self._heartbeat_seconds = heartbeat_seconds

    async def database(self) -> ComponentHealth:
        """`SELECT 1` round trip. A dead database makes Tollway UNHEALTHY."""
        try:
            latency = await ping_database(self._timeout)
        except ServiceUnavailable as exc:
            return ComponentHealth("database", HealthStatus.UNHEALTHY, None, _cause(exc))
        return ComponentHealth("database", HealthStatus.HEALTHY, latency, "ok")

    async def redis(self) -> ComponentHealth:
        """PING; `embedded` when Tollway runs without Redis."""
        if self._redis is None:
            return ComponentHealth("redis", HealthStatus.HEALTHY, 0.0, "embedded")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.ping()  # type: ignore[misc]
        except Exception as exc:
            return ComponentHealth("redis", HealthStatus.UNHEALTHY, None, _describe(exc))
        return ComponentHealth("redis", HealthStatus.HEALTHY, _ms(started), "ok")

    async def broadcaster(self) -> ComponentHealth:
        """A probe published and received back through the live-event backend."""
        if not self._bus.is_listening():
            return ComponentHealth("broadcaster", HealthStatus.UNHEALTHY, None, "not listening")
        try:
            latency = await self._bus.round_trip_ms(self._timeout)
        except Exception as exc:
            return ComponentHealth("broadcaster", HealthStatus.UNHEALTHY, None, _describe(exc))
        return ComponentHealth("broadcaster", HealthStatus.HEALTHY, latency, self._bus.backend_name)

    async def worker(self) -> ComponentHealth:
        """The newest worker heartbeat must be recent."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                beat = await WorkerHeartbeat.all().order_by("-beat_at").first()
        except Exception as exc:
            return ComponentHealth("worker", HealthStatus.UNHEALTHY, None, _describe(exc))
        if beat is None:
            return ComponentHealth(
                "worker", HealthStatus.DEGRADED, _ms(started), "no heartbeat yet"
            )
        age = (datetime.now(UTC) - beat.beat_at).total_seconds()
        status = (
            HealthStatus.HEALTHY if age <= 3 * self._heartbeat_seconds else HealthStatus.DEGRADED
        )
        return ComponentHealth("worker", status, _ms(started), f"last heartbeat {age:.1f}s ago")

    async def report(self) -> HealthReport:
        """Every component; overall is the worst of them."""
        components = list(
            await asyncio.gather(self.database(), self.redis(), self.broadcaster(), self.worker())
        )
        overall = max((c.status for c in components), key=_RANK.__getitem__)
        return HealthReport(overall, components)

    async def ready(self) -> list[ComponentHealth]:
        """The components readiness depends on: the database and the configured Redis."""
        return list(await asyncio.gather(self.database(), self.redis()))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _cause(exc: BaseException) -> str:
    return _describe(exc.__cause__) if exc.__cause__ else _describe(exc)
