"""Turning windows and quotas into concrete checks for one instant, and reading results back.

Both backends evaluate the same integer formulas (see `lua/limits.lua` and `memory.py`), so
their decisions are identical for the same sequence of requests and clock readings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from tollway.ratelimit.counters import FIXED, GCRA, SLIDING, level_after, retry_after_ms
from tollway.ratelimit.types import (
    Algorithm,
    Check,
    CheckResult,
    CounterState,
    Level,
    Quota,
    QuotaPeriod,
    Window,
)

KEY_PREFIX = "tw"


def _key(identity: str, *parts: object) -> str:
    # The hash tag keeps every key of one identity in one Redis Cluster slot.
    return f"{KEY_PREFIX}:{{{identity}}}:" + ":".join(str(p) for p in parts)


def lease_key(key: str) -> str:
    """Where the units leased from counter `key` to reservations are kept (same slot)."""
    return key + ":l"


EXPIRY_MARGIN_MS = 1000
"""Counters outlive the instant they stop counting by this much (clock skew, slow requests)."""
RESERVE_SHARE = 32
"""A reservation ahead leases at most this fraction (1/n) of the room a check has left..."""
RESERVE_MIN_ROOM = 1024
"""...and only from a check with at least this much room, so that a window near its limit is
counted request by request and instances hold few units another one could be refused for."""


def window_check(identity: str, window: Window, *, now_ms: int, scope: str = "k") -> Check:
    """The check for one window at `now_ms`; `scope` separates per-route windows of a key."""
    length = window.seconds * 1000
    name = window.name if scope == "k" else f"{scope}-{window.name}"
    if window.algorithm is Algorithm.TOKEN_BUCKET:
        interval = -(-length // window.limit)  # ceil: never faster than the stated rate
        burst = window.burst or window.limit
        return Check(
            name=name, kind=GCRA, keys=(_key(identity, scope, "g", length, window.limit),),
            limit=burst, interval_ms=interval, burst=burst, reset_ms=0, expire_at_ms=0,
            is_quota=False, window_seconds=window.seconds,
        )  # fmt: skip
    index = now_ms // length
    end = index * length + length
    if window.algorithm is Algorithm.FIXED_WINDOW:
        key = _key(identity, scope, "f", length, index)
        return Check(
            name=name, kind=FIXED, keys=(key,), limit=window.limit, interval_ms=length,
            burst=0, reset_ms=end, expire_at_ms=end + EXPIRY_MARGIN_MS, is_quota=False,
            window_seconds=window.seconds, lease_keys=(lease_key(key),),
        )  # fmt: skip
    current = _key(identity, scope, "s", length, index)
    previous = _key(identity, scope, "s", length, index - 1)
    # The current window's count is read as "previous" throughout the next window.
    return Check(
        name=name, kind=SLIDING, keys=(current, previous), limit=window.limit,
        interval_ms=length, burst=0, reset_ms=end, expire_at_ms=end + length + EXPIRY_MARGIN_MS,
        is_quota=False, window_seconds=window.seconds,
        lease_keys=(lease_key(current), lease_key(previous)),
    )  # fmt: skip


def period_bounds(period: QuotaPeriod, now: datetime) -> tuple[datetime, datetime]:
    """Start and end (UTC) of the calendar period containing `now`."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period is QuotaPeriod.DAY:
        return day, day + timedelta(days=1)
    if period is QuotaPeriod.WEEK:
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period is QuotaPeriod.MONTH:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        return start, end
    raise ValueError(f"{period} has no calendar bounds")


def quota_check(identity: str, quota: Quota, *, now_ms: int) -> Check:
    """The check for a quota at `now_ms`."""
    period = quota.refill if quota.period is QuotaPeriod.TOTAL else quota.period
    name = f"quota-{quota.period.value.lower()}"
    if period is None:  # TOTAL credits, never refilled
        key = _key(identity, "q", "total")
        return Check(
            name=name, kind=FIXED, keys=(key,), limit=quota.limit, interval_ms=0, burst=0,
            reset_ms=0, expire_at_ms=0, is_quota=True, window_seconds=0,
            lease_keys=(lease_key(key),),
        )  # fmt: skip
    start, end = period_bounds(period, datetime.fromtimestamp(now_ms / 1000, UTC))
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    key = _key(identity, "q", period.value, start_ms)
    return Check(
        name=name, kind=FIXED, keys=(key,), limit=quota.limit, interval_ms=end_ms - start_ms,
        burst=0, reset_ms=end_ms, expire_at_ms=end_ms + 86_400_000, is_quota=True,
        window_seconds=(end_ms - start_ms) // 1000, lease_keys=(lease_key(key),),
    )  # fmt: skip


def valid_range(check: Check) -> tuple[int, int]:
    """The instants [start, end) at which `check` is the check to make."""
    if check.kind is GCRA or check.reset_ms == 0:  # nothing in it depends on time
        return -(2**62), 2**62
    return check.reset_ms - check.interval_ms, check.reset_ms


def build_checks(
    identity: str,
    windows: Sequence[Window],
    *,
    quota: Quota | None,
    now_ms: int,
    route_windows: Sequence[Window] = (),
    route: str = "",
) -> list[Check]:
    """Every check of one request: the identity's windows, a route's extra windows, the quota."""
    checks = [window_check(identity, w, now_ms=now_ms) for w in windows]
    checks += [
        window_check(identity, w, now_ms=now_ms, scope=f"route:{route}") for w in route_windows
    ]
    if quota is not None:
        checks.append(quota_check(identity, quota, now_ms=now_ms))
    return checks


def admitted_levels(
    checks: Sequence[Check], states: Sequence[CounterState], *, cost: int, now_ms: int
) -> list[Level]:
    """Every check's level after admitting `cost`: what `read_result` says of an admitted
    request, without building results (it runs for every request that gets headers)."""
    return [
        level_after(c, s, cost=cost, now_ms=now_ms) for c, s in zip(checks, states, strict=True)
    ]


def read_result(
    check: Check, state: CounterState, *, cost: int, now_ms: int, allowed: bool
) -> CheckResult:
    """Remaining units, reset and retry time of one check after the decision."""
    if allowed:  # an admitted request passed every check
        wait: int | None = 0
        level = level_after(check, state, cost=cost, now_ms=now_ms)
    else:  # nothing was counted
        wait = retry_after_ms(check, state, cost=cost, now_ms=now_ms)
        level = level_after(check, state, cost=0, now_ms=now_ms)
    return CheckResult(
        check.name,
        check.limit,
        level.remaining,
        level.reset_ms,
        wait,
        check.is_quota,
        check.window_seconds,
        wait != 0,
    )
