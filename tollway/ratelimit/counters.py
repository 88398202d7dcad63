"""The arithmetic of every counter kind, written once.

Each kind has a state of two integers (`CounterState`), read from the storage before a
request:

- FIXED (fixed windows and quotas): `value` is the count of units in the current window or
  period; `previous` is unused (0).
- SLIDING: `value` is the current window's count, `previous` the previous window's count,
  which weighs by how much of the previous window the sliding window still covers.
- GCRA (token bucket): `value` is the theoretical arrival time (ms), the instant the bucket
  would be full again; `previous` is unused.

Every formula is over integers, so the Redis script (`lua/limits.lua`, whose functions carry
the same names) and the memory storage decide identically. The checks, the memory storage,
reservations, headers and Retry-After all call these functions.
"""

from __future__ import annotations

from tollway.ratelimit.types import Check, CounterState, Kind, Level

FIXED, SLIDING, GCRA = Kind.FIXED, Kind.SLIDING, Kind.GCRA  # plain names: enum lookups cost


def fixed_room(limit: int, count: int, *, cost: int) -> int:
    """Units a fixed window (or quota) has left beyond a request of `cost`."""
    return limit - count - cost


def sliding_room(
    limit: int,
    window_ms: int,
    *,
    reset_ms: int,
    now_ms: int,
    count: int,
    previous_count: int,
    cost: int,
) -> int:
    """Units a sliding window has left beyond a request of `cost`: the previous window's count
    weighs by the share of it the window ending now still covers, `(reset_ms - now_ms) /
    window_ms`; floored, so a fraction of a unit is never room."""
    covered_ms = reset_ms - now_ms
    return (
        limit * window_ms - previous_count * covered_ms - (count + cost) * window_ms
    ) // window_ms


def gcra_room(burst: int, interval_ms: int, *, tat_ms: int, now_ms: int, cost: int) -> int:
    """Tokens a GCRA bucket of `burst` has left beyond a request of `cost`, one token per
    `interval_ms`, with theoretical arrival time `tat_ms`."""
    late_ms = tat_ms - now_ms if tat_ms > now_ms else 0
    return (burst * interval_ms - late_ms - cost * interval_ms) // interval_ms


def room(check: Check, state: CounterState, *, cost: int, now_ms: int) -> int:
    """Units `check` has left beyond a request of `cost`; negative: the request is refused."""
    kind = check.kind
    if kind is SLIDING:
        return sliding_room(
            check.limit,
            check.interval_ms,
            reset_ms=check.reset_ms,
            now_ms=now_ms,
            count=state[0],
            previous_count=state[1],
            cost=cost,
        )
    if kind is FIXED:
        return fixed_room(check.limit, state[0], cost=cost)
    return gcra_room(check.burst, check.interval_ms, tat_ms=state[0], now_ms=now_ms, cost=cost)


def gcra_consumed(tat_ms: int, now_ms: int, *, units: int, interval_ms: int) -> int:
    """A GCRA bucket's theoretical arrival time once `units` more are emitted."""
    return (tat_ms if tat_ms > now_ms else now_ms) + units * interval_ms


def consumed(check: Check, state: CounterState, *, units: int, now_ms: int) -> int:
    """The stored value after `units` are counted: a count grows by them, a theoretical
    arrival time moves on by their emission time."""
    if check.kind is GCRA:
        return gcra_consumed(state[0], now_ms, units=units, interval_ms=check.interval_ms)
    return state[0] + units


def level_after(check: Check, state: CounterState, *, cost: int, now_ms: int) -> Level:
    """Remaining units and reset of `check` once a request of `cost` is counted (cost 0:
    as it stands). A GCRA bucket resets when it would be full again."""
    left = room(check, state, cost=cost, now_ms=now_ms)
    if check.kind is GCRA:
        return Level(left if left > 0 else 0, consumed(check, state, units=cost, now_ms=now_ms))
    return Level(left if left > 0 else 0, check.reset_ms)


def retry_after_ms(check: Check, state: CounterState, *, cost: int, now_ms: int) -> int | None:
    """How long until `check` would admit this request of `cost` again, with no other
    traffic meanwhile (0: it admits it now); None when it never will (the cost exceeds the
    limit, or TOTAL credits that never refill are spent)."""
    if room(check, state, cost=cost, now_ms=now_ms) >= 0:
        return 0
    kind = check.kind
    if kind is GCRA:
        if cost > check.burst:
            return None
        # Admitted once tat - now <= (burst - cost) * interval.
        return state[0] - (check.burst - cost) * check.interval_ms - now_ms
    if cost > check.limit or check.reset_ms == 0:
        return None
    if kind is FIXED:
        return check.reset_ms - now_ms  # the count starts again at the reset
    return _sliding_wait_ms(check, state, cost, now_ms)


def _sliding_wait_ms(check: Check, state: CounterState, cost: int, now_ms: int) -> int:
    """The wait of a refused sliding-window request: as the window slides, the previous
    count's weight falls; if the current count alone leaves no room, the current window
    becomes the previous one at the reset and the request waits until its weight has fallen
    enough."""
    window_ms, reset_ms = check.interval_ms, check.reset_ms
    count, previous_count = state
    spare = check.limit - count - cost
    if spare >= 0:
        # Admitted at t once previous_count * (reset - t) <= spare * window_ms.
        return reset_ms - spare * window_ms // previous_count - now_ms
    # After the reset `count` is the previous window's count and the current one is empty.
    return reset_ms + window_ms - (check.limit - cost) * window_ms // count - now_ms
