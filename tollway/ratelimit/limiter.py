"""The limiter: builds checks, asks a storage, reads back a Decision."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from tollway.ratelimit.base import LimitStorage
from tollway.ratelimit.checks import read_result
from tollway.ratelimit.plan import CheckPlan
from tollway.ratelimit.types import Decision, Quota, Window

MAX_PLANS = 100_000


def wall_clock_ms() -> int:
    """Milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


class Limiter:
    """Checks and consumes every window and the quota of one request together."""

    def __init__(self, storage: LimitStorage, clock: Callable[[], int] = wall_clock_ms) -> None:
        self.storage = storage
        self._clock = clock
        self._plans: dict[tuple[str, str], CheckPlan] = {}

    def _compile(
        self,
        identity: str,
        windows: Sequence[Window],
        quota: Quota | None,
        route_windows: Sequence[Window],
        route: str,
    ) -> CheckPlan:
        if len(self._plans) >= MAX_PLANS:  # many identities (per-IP limits): start afresh
            self._plans.clear()
        plan = CheckPlan(identity, windows, quota, route_windows, route)
        self._plans[(identity, route)] = plan
        return plan

    def now_ms(self) -> int:
        """The limiter's clock."""
        return self._clock()

    async def hit(
        self,
        identity: str,
        windows: Sequence[Window],
        quota: Quota | None,
        cost: int = 1,
        route_windows: Sequence[Window] = (),
        route: str = "",
        now_ms: int | None = None,
    ) -> Decision:
        """Admit the request (consuming `cost` everywhere) or reject it (consuming nothing).

        `now_ms` is the caller's reading of this limiter's clock, when it already has one.
        """
        now = self._clock() if now_ms is None else now_ms
        plan = self._plans.get((identity, route))
        if plan is None or not plan.matches(windows, quota, route_windows):
            plan = self._compile(identity, windows, quota, route_windows, route)
        checks = plan.at(now)
        if not checks:
            return Decision(True, (), checks)
        allowed, states = await self.storage.apply(checks, cost, now)
        pairs = zip(checks, states, strict=True)
        results = [read_result(c, s, cost, now, allowed) for c, s in pairs]
        return Decision(allowed, tuple(results), checks)
