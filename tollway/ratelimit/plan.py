"""Compiled checks: the hot-path twin of `build_checks`.

`build_checks` formats every Redis key and computes every calendar bound on each call. A
`CheckPlan` does that once per identity and configuration and again only when a window or
quota period rolls over; in between, one comparison tells that the compiled checks still
hold. They equal `build_checks`' at every instant (a property test holds them to that).
"""

from __future__ import annotations

from collections.abc import Sequence

from tollway.ratelimit.checks import RESERVE_MIN_ROOM, build_checks, valid_range
from tollway.ratelimit.counters import GCRA
from tollway.ratelimit.reservation import Reservation
from tollway.ratelimit.types import Check, Quota, Window

NEVER = 2**62


class CheckPlan:
    """Every check of one identity's configuration, ready for any instant."""

    __slots__ = (
        "_identity", "_route", "checks", "leasable", "quota", "reservation", "route_windows",
        "valid_from", "valid_until", "windows",
    )  # fmt: skip

    def __init__(
        self,
        identity: str,
        windows: Sequence[Window],
        *,
        quota: Quota | None,
        route_windows: Sequence[Window] = (),
        route: str = "",
    ) -> None:
        self._identity = identity
        self._route = route
        self.windows = tuple(windows)
        self.quota = quota
        self.route_windows = tuple(route_windows)
        self.checks: tuple[Check, ...] = ()
        self.valid_from, self.valid_until = NEVER, -NEVER  # nothing compiled yet
        self.reservation: Reservation | None = None  # units held ahead (`Limiter`)
        self.leasable = False  # units may be leased ahead for these checks

    def matches(
        self, windows: Sequence[Window], quota: Quota | None, *, route_windows: Sequence[Window]
    ) -> bool:
        """True when this plan was compiled for this configuration."""
        # The hot path passes the very objects this plan was compiled from (a key record's),
        # so identity settles it; a list (from a caller) compares equal only as a tuple.
        mine = self.windows
        if windows is not mine and mine != windows and mine != tuple(windows):
            return False
        if quota is not self.quota and quota != self.quota:
            return False
        mine = self.route_windows
        return route_windows is mine or mine == route_windows or mine == tuple(route_windows)

    def at(self, now_ms: int) -> tuple[Check, ...]:
        """The checks at `now_ms`, equal to `build_checks(...)` at that instant. The same tuple
        comes back until a window or period rolls over."""
        if self.valid_from <= now_ms < self.valid_until:
            return self.checks
        checks = tuple(
            build_checks(
                self._identity,
                self.windows,
                quota=self.quota,
                now_ms=now_ms,
                route_windows=self.route_windows,
                route=self._route,
            )
        )
        start, end = -NEVER, NEVER
        for check in checks:
            low, high = valid_range(check)
            start, end = max(start, low), min(end, high)
        self.checks, self.valid_from, self.valid_until = checks, start, end
        # A check whose limit leaves less room than a lease needs never grants one, so its
        # requests skip the lease bookkeeping altogether.
        self.leasable = bool(checks) and all(
            c.kind is not GCRA and c.limit >= RESERVE_MIN_ROOM for c in checks
        )
        return checks
