"""The limiter: builds checks, asks a storage, reads back a Decision."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from tollway.clock import wall_clock_ms
from tollway.ratelimit.base import LimitStorage
from tollway.ratelimit.decision import Decision
from tollway.ratelimit.memory import MemoryStorage
from tollway.ratelimit.plan import CheckPlan
from tollway.ratelimit.reservation import RESERVATION_MS, Reservation, Reservations
from tollway.ratelimit.types import Check, Quota, Window

logger = logging.getLogger(__name__)
MAX_PLANS = 100_000
MAX_RESERVE = 100_000


class Limiter:
    """Checks and counts every window and the quota of one request together."""

    def __init__(
        self,
        storage: LimitStorage,
        clock: Callable[[], int] = wall_clock_ms,
        *,
        reserve_units: int = 0,
    ) -> None:
        """`reserve_units`: how many units ahead an admitted request may lease for this
        instance to admit later requests with, without asking the storage (see
        `reservation.py`); 0 asks the storage on every request."""
        self.storage = storage
        self.clock = clock
        """The limiter's clock, in milliseconds."""
        self.reserve_units = reserve_units
        self.reservations = Reservations(storage, clock)
        # Below this many units held, an admitted request tops the reservation up in the
        # background, so that a busy key rarely waits for a round trip.
        self._low_water = max(1, reserve_units // 2)
        self._topping_up: set[asyncio.Task[None]] = set()
        self._plans: dict[tuple[str, str], CheckPlan] = {}
        # Memory counters are counted without awaiting (and need no reservation).
        self._apply_now = (
            storage.apply_now if isinstance(storage, MemoryStorage) and not reserve_units else None
        )

    def forget_plans(self) -> None:
        """Drop every cached check plan, ending their leases (after many keys went idle)."""
        self.reservations.end_all()
        self._plans.clear()

    def _plan(
        self,
        identity: str,
        windows: Sequence[Window],
        quota: Quota | None,
        route_windows: Sequence[Window],
        route: str,
    ) -> CheckPlan:
        plan = self._plans.get((identity, route))
        if plan is not None and plan.matches(windows, quota, route_windows=route_windows):
            return plan
        if plan is not None and plan.reservation is not None:
            self.reservations.end(plan.reservation)
        if len(self._plans) >= MAX_PLANS:  # many identities (per-IP limits): start afresh
            self.forget_plans()
        plan = CheckPlan(identity, windows, quota=quota, route_windows=route_windows, route=route)
        self._plans[(identity, route)] = plan
        return plan

    def hit_now(
        self,
        identity: str,
        windows: Sequence[Window],
        *,
        quota: Quota | None,
        cost: int,
        route_windows: Sequence[Window],
        route: str,
        now_ms: int,
    ) -> Decision | None:
        """`hit`, when it can decide without waiting: on memory counters, or from units
        reserved ahead that cover the request. None (nothing counted): call `hit`."""
        plan = self._plan(identity, windows, quota, route_windows, route)
        return self._decide_now(plan, plan.at(now_ms), cost, now_ms)

    def _decide_now(
        self, plan: CheckPlan, checks: tuple[Check, ...], cost: int, now: int
    ) -> Decision | None:
        if not checks:
            return Decision(True, checks)
        if self._apply_now is not None:
            allowed, _, states = self._apply_now(checks, cost, now_ms=now)
            return Decision(allowed, checks, states=states, cost=cost, now_ms=now)
        held = plan.reservation
        if held is not None and held.checks is checks and held.covers(cost, now):
            return self._admit_held(held, cost, now)
        return None

    def _admit_held(self, held: Reservation, cost: int, now: int) -> Decision:
        """Admit from units held; below the low-water mark, top them up in the background."""
        decision = held.admit(cost, now)
        if held.units < self._low_water and held.refill is None and held.granting:
            self._top_up_later(held, now)
        return decision

    def _top_up_later(self, held: Reservation, now: int) -> None:
        held.start_refill()  # requests the units left cannot cover wait for it
        task = asyncio.get_running_loop().create_task(self._top_up(held, now))
        self._topping_up.add(task)
        task.add_done_callback(self._topping_up.discard)

    async def _top_up(self, held: Reservation, now: int) -> None:
        """Report and lease more units for `held` with a request of no cost of its own."""
        lease = held.lease(now)
        try:
            answer = await self.storage.apply(
                held.checks, 0, now_ms=now, reserve=self._ask(held), lease=lease
            )
            held.add(answer, 0, sent=lease, now_ms=now)
        except Exception as exc:  # the next request not covered asks, and meets it itself
            logger.debug("topping up a reservation failed: %s", exc)
            held.granting = False
        finally:
            held.end_refill()

    def _ask(self, held: Reservation) -> int:
        """How many units to lease for `held`: the usual amount, plus what requests
        waiting for it want."""
        return min(self.reserve_units + held.waiting, MAX_RESERVE)

    def end_expired_reservations(self) -> None:
        """Give back the units of every reservation whose time has passed."""
        self.reservations.end_expired(self.clock())

    async def maintain(
        self,
        *,
        period_ms: int = RESERVATION_MS // 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Run for ever: end expired reservations, so that a key gone quiet gives its
        leased units back (and reports what it handed out) before its lease lapses.
        `sleep` waits by the same clock the limiter reads."""
        while True:
            await sleep(period_ms / 1000)
            self.end_expired_reservations()

    async def settle(self) -> None:
        """Wait until no reservation is being topped up or given back in the background."""
        while self._topping_up:
            await asyncio.gather(*self._topping_up, return_exceptions=True)
        await self.reservations.settle()

    async def aclose(self) -> None:
        """Give back every unit still leased (shutdown)."""
        await self.settle()
        self.reservations.end_all()
        await self.reservations.settle()

    async def hit(
        self,
        identity: str,
        windows: Sequence[Window],
        *,
        quota: Quota | None,
        cost: int = 1,
        route_windows: Sequence[Window] = (),
        route: str = "",
        now_ms: int | None = None,
    ) -> Decision:
        """Admit the request (counting `cost` everywhere) or refuse it (counting nothing).

        `now_ms` is the caller's reading of this limiter's clock, when it already has one.
        """
        now = self.clock() if now_ms is None else now_ms
        plan = self._plan(identity, windows, quota, route_windows, route)
        checks = plan.at(now)
        decision = self._decide_now(plan, checks, cost, now)
        if decision is not None:
            return decision
        if self.reserve_units and plan.leasable:
            return await self._hit_reserving(plan, checks, cost, now)
        allowed, _, states = await self.storage.apply(checks, cost, now_ms=now)
        return Decision(allowed, checks, states=states, cost=cost, now_ms=now)

    def _reservation(self, plan: CheckPlan, checks: tuple[Check, ...]) -> Reservation:
        held = plan.reservation
        if held is None or held.checks is not checks or held.ended:
            if held is not None:  # its window rolled over: give back what it holds
                self.reservations.end(held)
            held = plan.reservation = self.reservations.new(checks)
        return held

    async def _hit_reserving(
        self, plan: CheckPlan, checks: tuple[Check, ...], cost: int, now: int
    ) -> Decision:
        """`hit` with units leased ahead: admit from the lease when it covers the request;
        while a request of the lease is under way, wait for it rather than ask as well."""
        held = self._reservation(plan, checks)
        while not held.covers(cost, now):
            if held.refill is None or not held.granting:
                break
            held.waiting += cost
            try:
                await asyncio.wait((held.refill,))  # not cancelled with this request
            finally:
                held.waiting -= cost
        else:
            return self._admit_held(held, cost, now)
        if held.refill is not None:  # one request of a lease at a time: count this one apart
            allowed, _, states = await self.storage.apply(checks, cost, now_ms=now)
            return Decision(allowed, checks, states=states, cost=cost, now_ms=now)
        if now >= held.until_ms:
            held.units = 0  # expired: this request gives them back
        held.start_refill()
        lease = held.lease(now)
        try:
            answer = await self.storage.apply(
                checks, cost, now_ms=now, reserve=self._ask(held), lease=lease
            )
            held.add(answer, cost, sent=lease, now_ms=now)
        finally:
            held.end_refill()
        return Decision(answer.allowed, checks, states=answer.states, cost=cost, now_ms=now)
