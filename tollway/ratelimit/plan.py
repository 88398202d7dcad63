"""Compiled checks: the hot-path twin of `build_checks`.

`build_checks` formats every Redis key and computes every calendar bound on each call. A
`CheckPlan` does that once per identity and configuration and again only when a window or
quota period rolls over, producing `Check` values equal to `build_checks`' for every instant
(a property test holds them to that).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tollway.ratelimit.checks import period_bounds, quota_check, window_check
from tollway.ratelimit.types import Algorithm, Check, Kind, Quota, QuotaPeriod, Window


class _WindowPlan:
    """One window's check, rebuilt only when its window index changes (sliding: its weight)."""

    __slots__ = ("_check", "_identity", "_index", "_length", "_scope", "_sliding", "_window")

    def __init__(self, identity: str, window: Window, scope: str) -> None:
        self._identity = identity
        self._window = window
        self._scope = scope
        self._length = window.seconds * 1000
        self._sliding = window.algorithm is Algorithm.SLIDING_WINDOW
        self._index = -1
        self._check: Check | None = None
        if window.algorithm is Algorithm.TOKEN_BUCKET:  # no time in it: build once
            self._check = window_check(identity, window, 0, scope)

    def at(self, now_ms: int) -> Check:
        check = self._check
        if check is not None and check.kind is Kind.GCRA:
            return check
        index = now_ms // self._length
        if index != self._index or check is None:
            check = window_check(self._identity, self._window, now_ms, self._scope)
            self._index, self._check = index, check
            return check
        if self._sliding:
            weight = self._length - (now_ms - index * self._length)
            if weight != check.weight:
                check = check.with_weight(weight)
                self._check = check
        return check


class _QuotaPlan:
    """A quota's check, rebuilt when its calendar period rolls over."""

    __slots__ = ("_check", "_end_ms", "_identity", "_quota", "_start_ms")

    def __init__(self, identity: str, quota: Quota) -> None:
        self._identity = identity
        self._quota = quota
        self._start_ms = self._end_ms = 0
        self._check: Check | None = None

    def at(self, now_ms: int) -> Check:
        check = self._check
        if check is not None and self._start_ms <= now_ms < self._end_ms:
            if check.reset_ms == 0:  # TOTAL credits: nothing depends on time
                return check
            return check.with_ttl(check.reset_ms - now_ms + 86_400_000)
        check = quota_check(self._identity, self._quota, now_ms)
        quota = self._quota
        period = quota.refill if quota.period is QuotaPeriod.TOTAL else quota.period
        if period is None:
            self._start_ms, self._end_ms = -(2**62), 2**62
        else:
            start, end = period_bounds(period, datetime.fromtimestamp(now_ms / 1000, UTC))
            self._start_ms = int(start.timestamp() * 1000)
            self._end_ms = int(end.timestamp() * 1000)
        self._check = check
        return check


class CheckPlan:
    """Every check of one identity's configuration, ready for any instant."""

    __slots__ = ("_parts", "quota", "route_windows", "windows")

    def __init__(
        self,
        identity: str,
        windows: Sequence[Window],
        quota: Quota | None,
        route_windows: Sequence[Window] = (),
        route: str = "",
    ) -> None:
        self.windows = tuple(windows)
        self.quota = quota
        self.route_windows = tuple(route_windows)
        parts: list[_WindowPlan | _QuotaPlan] = [_WindowPlan(identity, w, "k") for w in windows]
        parts += [_WindowPlan(identity, w, f"route:{route}") for w in route_windows]
        if quota is not None:
            parts.append(_QuotaPlan(identity, quota))
        self._parts = tuple(parts)

    def matches(
        self, windows: Sequence[Window], quota: Quota | None, route_windows: Sequence[Window]
    ) -> bool:
        """True when this plan was compiled for this configuration."""
        return (
            self.windows == windows and self.quota == quota and self.route_windows == route_windows
        )

    def at(self, now_ms: int) -> list[Check]:
        """The checks at `now_ms`, equal to `build_checks(...)` at that instant."""
        return [part.at(now_ms) for part in self._parts]
