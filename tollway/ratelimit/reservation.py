"""Units leased ahead from a shared storage, handed out locally without a round trip.

A busy key on Redis would cost one round trip per request. Instead, an admitted request may
also lease a few units for its instance (in the same atomic script); the instance then admits
the next requests of that key from the lease. Leased units are not counted: every other
request, on any instance, sees them as used, and each later request of the lease reports
what it has handed out, which the storage then adds to the counts exactly once. So limits
and quotas stay exact both ways: nothing is admitted beyond a limit, and nothing is charged
that was not admitted. Units not handed out go back when the lease ends: when it expires
(`RESERVATION_MS`), its window rolls over, or the instance shuts down; a crashed instance's
lease ends by itself in the storage `LEASE_GRACE_MS` later.

Leases are taken only from checks with ample room (`checks.RESERVE_MIN_ROOM`,
`RESERVE_SHARE`), so near a limit every request is counted in the storage one by one, and
never from a GCRA check (a token bucket refills by the clock, so units given back late would
not be the units taken). Once fewer than half the units are left, the limiter tops the lease
up in the background (a request of no cost that only reports and leases).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Callable

from tollway.ratelimit.base import LimitStorage
from tollway.ratelimit.decision import Decision
from tollway.ratelimit.types import Check, CounterState, Lease, StorageAnswer

logger = logging.getLogger(__name__)

RESERVATION_MS = 1000
"""How long leased units may be handed out after they were granted."""
LEASE_GRACE_MS = 1000
"""How much longer the storage keeps a lease: the instance gives it back before then, and a
crashed instance's lease lapses then."""


class Reservation:
    """Units of one checks tuple leased to this instance."""

    __slots__ = (
        "after", "checks", "ended", "granting", "handed_out", "lease_id", "leased", "refill",
        "reported", "units", "until_ms", "waiting",
    )  # fmt: skip

    def __init__(self, checks: tuple[Check, ...], lease_id: str) -> None:
        self.checks = checks
        self.lease_id = lease_id
        self.units = 0  # held, not yet handed out
        self.handed_out = 0  # every unit handed out since the lease began
        self.reported = 0  # what the storage has counted of `handed_out`
        self.leased = 0  # units the storage holds leased to this reservation
        self.until_ms = 0
        self.ended = False  # retired: no longer handed out from, being given back
        self.refill: asyncio.Future[None] | None = None  # a request of this lease under way
        self.granting = False  # the last ask was granted units (so waiting for one pays)
        self.waiting = 0  # units wanted by requests waiting for `refill`
        self.after: list[CounterState] = []  # each check's state after the last answer

    def lease(self, now_ms: int) -> Lease:
        """This reservation's standing, for a request made at `now_ms`."""
        return Lease(
            self.lease_id,
            self.handed_out,
            self.reported,
            self.units,
            now_ms + RESERVATION_MS + LEASE_GRACE_MS,
        )

    def add(self, answer: StorageAnswer, cost: int, *, sent: Lease, now_ms: int) -> None:
        """Record the storage's answer to a request of `cost` made with lease `sent`."""
        self.reported = sent.counted
        self.leased = sent.keep + answer.reserved
        counted = cost if answer.allowed else 0
        # A state counts the units kept, so `after` counts every unit leased, too.
        self.after = [
            CounterState(s.value + counted + answer.reserved, s.previous) for s in answer.states
        ]
        if not self.ended:  # an ended lease's units go back with its final request
            self.units += answer.reserved
        self.granting = answer.reserved > 0
        self.until_ms = now_ms + RESERVATION_MS

    def start_refill(self) -> None:
        """Mark a request of this lease as under way: requests not covered wait for it."""
        self.refill = asyncio.get_running_loop().create_future()

    def end_refill(self) -> None:
        """The request is answered (or failed): wake whoever waits for it."""
        refill, self.refill = self.refill, None
        if refill is not None:
            refill.set_result(None)

    def covers(self, cost: int, now_ms: int) -> bool:
        """True when this reservation can admit a request of `cost` at `now_ms`."""
        return self.units >= cost and now_ms < self.until_ms

    def admit(self, cost: int, now_ms: int) -> Decision:
        """Hand out `cost` units; the decision reads as if counted in the storage."""
        held = self.units
        self.units = held - cost
        self.handed_out += cost
        # What the storage would hold had the units still held never been leased.
        states = [CounterState(a - held, b) for a, b in self.after]
        return Decision(True, self.checks, states=states, cost=cost, now_ms=now_ms)


class Reservations:
    """This instance's live leases: each ends, giving back what it did not hand out."""

    def __init__(self, storage: LimitStorage, clock: Callable[[], int]) -> None:
        self.storage = storage
        self.clock = clock
        self._ids = itertools.count()
        self._instance = uuid.uuid4().hex[:12]
        self._live: set[Reservation] = set()
        self._ending: set[asyncio.Task[None]] = set()

    def new(self, checks: tuple[Check, ...]) -> Reservation:
        """A reservation for `checks`, live from its first request."""
        held = Reservation(checks, f"{self._instance}:{next(self._ids)}")
        self._live.add(held)
        return held

    def end(self, held: Reservation) -> None:
        """Retire `held` and give its units back (in the background)."""
        if held.ended:
            return
        held.ended = True
        held.units = 0  # handed out no more: the request below gives these back
        task = asyncio.get_running_loop().create_task(self._give_back(held))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    def end_expired(self, now_ms: int) -> None:
        """End every lease whose time to hand out has passed."""
        for held in [h for h in self._live if not h.ended and h.until_ms <= now_ms]:
            self.end(held)

    def end_all(self) -> None:
        """End every lease (shutdown)."""
        for held in list(self._live):
            self.end(held)

    async def settle(self) -> None:
        """Wait until every lease being ended has been given back."""
        while self._ending:
            await asyncio.gather(*self._ending, return_exceptions=True)

    async def _give_back(self, held: Reservation) -> None:
        while held.refill is not None:  # one request of a lease at a time
            await asyncio.wait((held.refill,))
        self._live.discard(held)
        now_ms = self.clock()
        if held.handed_out == held.reported and held.leased == 0:
            return  # nothing to report, nothing leased
        try:
            await self.storage.apply(
                held.checks, 0, now_ms=now_ms, reserve=0, lease=held.lease(now_ms), final=True
            )
        except Exception as exc:  # the storage lets the lease go by itself
            logger.warning("giving back leased units failed: %s", exc)
