"""Units reserved ahead from a shared storage, handed out locally without a round trip.

A busy key on Redis would cost one round trip per request. Instead, an admitted request may
reserve a few more units with it (consumed in Redis at once, by the same atomic script, so
every instance sees them as used); the instance then admits the next requests of that key
from the reservation. Limits stay exact in the only direction that matters: no window or
quota ever admits more than its limit, since every unit handed out was consumed in Redis
first. Reservations are taken only from checks with ample room (`checks.RESERVE_MIN_ROOM`,
`RESERVE_SHARE`), so near a limit every request is counted in Redis one by one; units still
held when a window rolls over or the reservation expires are simply left unused. Once fewer
than half the units are left, the limiter tops the reservation up in the background (a
request of no cost that only reserves), so a busy key rarely waits for a round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tollway.ratelimit.checks import GCRA
from tollway.ratelimit.types import Check, Decision

RESERVATION_MS = 1000
"""How long reserved units may be handed out (they stay exact; this bounds how stale the
remaining counts in headers can be)."""


class Reservation:
    """Units of one checks tuple held by this instance."""

    __slots__ = (
        "after", "checks", "granting", "previous", "refill", "units", "until_ms", "waiting",
    )  # fmt: skip

    def __init__(self, checks: tuple[Check, ...]) -> None:
        self.checks = checks
        self.units = 0
        self.until_ms = 0
        self.refill: asyncio.Future[None] | None = None  # a request asking for more units
        self.granting = False  # the last ask was granted units (so waiting for one pays)
        self.waiting = 0  # units wanted by requests waiting for `refill`
        self.after: list[int] = []  # each check's counter (or GCRA tat) after the last grant
        self.previous: list[int] = []  # each sliding check's previous-window count

    def add(self, granted: int, cost: int, states: Sequence[tuple[int, int]], now_ms: int) -> None:
        """Record a grant of `granted` units made with a request of `cost` at `now_ms`."""
        consumed = cost + granted
        after = []
        for check, (a, _) in zip(self.checks, states, strict=True):
            if check.kind is GCRA:
                after.append((a if a > now_ms else now_ms) + consumed * check.interval_ms)
            else:
                after.append(a + consumed)
        self.after = after
        self.previous = [b for _, b in states]
        self.units += granted
        self.until_ms = now_ms + RESERVATION_MS

    def start_refill(self) -> None:
        """Mark a request for more units as under way: requests not covered wait for it."""
        self.refill = asyncio.get_running_loop().create_future()

    def end_refill(self) -> None:
        """The request for more units is answered (or failed): wake whoever waits for it."""
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
        states = []
        for check, after, previous in zip(self.checks, self.after, self.previous, strict=True):
            # What the storage would hold had the units still held never been reserved.
            used = after - held * check.interval_ms if check.kind is GCRA else after - held
            states.append((used, previous))
        return Decision(True, self.checks, states, cost, now_ms)
