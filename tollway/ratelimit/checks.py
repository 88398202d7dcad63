"""Turning windows and quotas into concrete checks for one instant, and reading results back.

Both backends evaluate the same integer formulas (see `lua/limits.lua` and `memory.py`), so
their decisions are identical for the same sequence of requests and clock readings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from tollway.ratelimit.types import (
    Algorithm,
    Check,
    CheckResult,
    Kind,
    Quota,
    QuotaPeriod,
    Window,
)

KEY_PREFIX = "tw"


def _key(identity: str, *parts: object) -> str:
    # The hash tag keeps every key of one identity in one Redis Cluster slot.
    return f"{KEY_PREFIX}:{{{identity}}}:" + ":".join(str(p) for p in parts)


def window_check(identity: str, window: Window, now_ms: int, scope: str = "k") -> Check:
    """The check for one window at `now_ms`; `scope` separates per-route windows of a key."""
    length = window.seconds * 1000
    name = window.name if scope == "k" else f"{scope}-{window.name}"
    if window.algorithm is Algorithm.TOKEN_BUCKET:
        interval = -(-length // window.limit)  # ceil: never faster than the stated rate
        burst = window.burst or window.limit
        return Check(
            name=name, kind=Kind.GCRA, keys=(_key(identity, scope, "g", length, window.limit),),
            limit=burst, interval_ms=interval, burst=burst, weight=0, reset_ms=0,
            ttl_ms=burst * interval + 1000, is_quota=False, window_seconds=window.seconds,
        )  # fmt: skip
    index = now_ms // length
    start = index * length
    if window.algorithm is Algorithm.FIXED_WINDOW:
        return Check(
            name=name, kind=Kind.FIXED, keys=(_key(identity, scope, "f", length, index),),
            limit=window.limit, interval_ms=length, burst=0, weight=0, reset_ms=start + length,
            ttl_ms=length + 1000, is_quota=False, window_seconds=window.seconds,
        )  # fmt: skip
    current = _key(identity, scope, "s", length, index)
    previous = _key(identity, scope, "s", length, index - 1)
    return Check(
        name=name, kind=Kind.SLIDING, keys=(current, previous),
        limit=window.limit, interval_ms=length, burst=0, weight=length - (now_ms - start),
        reset_ms=start + length, ttl_ms=2 * length + 1000, is_quota=False,
        window_seconds=window.seconds,
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


def quota_check(identity: str, quota: Quota, now_ms: int) -> Check:
    """The check for a quota at `now_ms`."""
    period = quota.refill if quota.period is QuotaPeriod.TOTAL else quota.period
    name = f"quota-{quota.period.value.lower()}"
    if period is None:  # TOTAL credits, never refilled
        return Check(
            name=name, kind=Kind.FIXED, keys=(_key(identity, "q", "total"),), limit=quota.limit,
            interval_ms=0, burst=0, weight=0, reset_ms=0, ttl_ms=0, is_quota=True,
            window_seconds=0,
        )  # fmt: skip
    start, end = period_bounds(period, datetime.fromtimestamp(now_ms / 1000, UTC))
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    return Check(
        name=name, kind=Kind.FIXED, keys=(_key(identity, "q", period.value, start_ms),),
        limit=quota.limit, interval_ms=end_ms - start_ms, burst=0, weight=0, reset_ms=end_ms,
        ttl_ms=end_ms - now_ms + 86_400_000, is_quota=True,
        window_seconds=(end_ms - start_ms) // 1000,
    )  # fmt: skip


def build_checks(
    identity: str,
    windows: Sequence[Window],
    quota: Quota | None,
    now_ms: int,
    route_windows: Sequence[Window] = (),
    route: str = "",
) -> list[Check]:
    """Every check of one request: the identity's windows, a route's extra windows, the quota."""
    checks = [window_check(identity, w, now_ms) for w in windows]
    checks += [window_check(identity, w, now_ms, scope=f"route:{route}") for w in route_windows]
    if quota is not None:
        checks.append(quota_check(identity, quota, now_ms))
    return checks


def check_allows(check: Check, state: tuple[int, int], cost: int, now_ms: int) -> bool:
    """The admission formula, identical to the Lua script's."""
    a, b = state
    if check.kind is Kind.FIXED:
        return a + cost <= check.limit
    if check.kind is Kind.SLIDING:
        return b * check.weight + (a + cost) * check.interval_ms <= check.limit * check.interval_ms
    return max(a, now_ms) + cost * check.interval_ms - now_ms <= check.burst * check.interval_ms


def read_result(
    check: Check, state: tuple[int, int], cost: int, now_ms: int, allowed: bool
) -> CheckResult:
    """Remaining units, reset and retry time of one check after the decision."""
    a, b = state
    # An admitted request passed every check; only a refusal needs the formula again.
    exceeded = False if allowed else not check_allows(check, state, cost, now_ms)
    used = cost if allowed else 0
    if check.kind is Kind.FIXED:
        remaining = check.limit - a - used
        reset_ms = check.reset_ms
        retry = (reset_ms - now_ms) if check.reset_ms else 86_400_000
    elif check.kind is Kind.SLIDING:
        w = check.interval_ms
        remaining = (check.limit * w - b * check.weight - (a + used) * w) // w
        reset_ms = check.reset_ms
        spare = check.limit - a - cost
        retry = reset_ms - now_ms
        if spare >= 0 and b > 0:
            retry = max(1, check.weight - (spare * w) // b)
    else:
        tat = max(a, now_ms) + (used * check.interval_ms)
        remaining = (check.burst * check.interval_ms - (tat - now_ms)) // check.interval_ms
        reset_ms = max(tat, now_ms)
        retry = max(a, now_ms) + cost * check.interval_ms - check.burst * check.interval_ms - now_ms
    return CheckResult(
        name=check.name,
        limit=check.limit,
        remaining=max(0, remaining),
        reset_ms=reset_ms,
        retry_after_ms=max(1, retry),
        is_quota=check.is_quota,
        window_seconds=check.window_seconds,
        exceeded=exceeded,
    )
