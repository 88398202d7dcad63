"""In-memory backend: the twin of the Redis script, for embedded mode and fail-open."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from tollway.ratelimit.checks import EXPIRY_MARGIN_MS, RESERVE_MIN_ROOM, RESERVE_SHARE
from tollway.ratelimit.counters import GCRA, SLIDING, consumed, room
from tollway.ratelimit.types import Check, CounterState, Lease, StorageAnswer

LEASE_MEMORY_MS = 10_000
"""How long an ended lease's counted units are remembered (as in `lua/limits.lua`)."""


class MemoryStorage:
    """Counters in a dict, expiring by the same clock the checks are evaluated with.

    Atomic without locks: `apply_now` never awaits, so no other task runs in between. Every
    step is `lua/limits.lua`'s, in the same order, over `counters.py`'s formulas.
    """

    name = "memory"

    def __init__(self) -> None:
        self._values: dict[str, list[int]] = {}  # key -> [value, expires_at_ms or 0]
        self._expiry: list[tuple[int, str]] = []
        # lease key -> {lease id: [units, until_ms, counted]}
        self._leases: dict[str, dict[str, list[int]]] = {}
        self._lease_expiry: list[tuple[int, str]] = []

    def _evict(self, now_ms: int) -> None:
        values = self._values
        while self._expiry and self._expiry[0][0] <= now_ms:
            _, key = heapq.heappop(self._expiry)
            entry = values.get(key)
            if entry is not None and entry[1] and entry[1] <= now_ms:
                del values[key]
        leases = self._leases
        while self._lease_expiry and self._lease_expiry[0][0] <= now_ms:
            _, key = heapq.heappop(self._lease_expiry)
            held = leases.get(key)
            if held is not None and all(e[1] + LEASE_MEMORY_MS <= now_ms for e in held.values()):
                del leases[key]

    async def apply(
        self,
        checks: Sequence[Check],
        cost: int,
        *,
        now_ms: int,
        reserve: int = 0,
        lease: Lease | None = None,
        final: bool = False,
    ) -> StorageAnswer:
        """Evaluate every check, count all when every one allows (see `LimitStorage`)."""
        if lease is None and not self._leases:
            return self.apply_now(checks, cost, now_ms=now_ms)
        return self._apply_leased(checks, cost, now_ms, reserve, lease, final)

    def apply_now(self, checks: Sequence[Check], cost: int, *, now_ms: int) -> StorageAnswer:
        """`apply` for a request without a reservation while nothing is leased (embedded
        mode): it never awaits, and the limiter's hot path calls it directly."""
        if self._leases:
            return self._apply_leased(checks, cost, now_ms, 0, None, False)
        if self._expiry and self._expiry[0][0] <= now_ms:
            self._evict(now_ms)
        values = self._values  # after eviction, a missing counter reads as zero
        states: list[CounterState] = []
        allowed = True
        for check in checks:
            keys = check.keys
            counter = values.get(keys[0])
            state = CounterState(
                0 if counter is None else counter[0],
                _count(values, keys[1]) if check.kind is SLIDING else 0,
            )
            if room(check, state, cost=cost, now_ms=now_ms) < 0:
                allowed = False
            states.append(state)
        if allowed:
            for check, state in zip(checks, states, strict=True):
                self._count_on(check, state, cost, now_ms)
        return StorageAnswer(allowed, 0, states)

    def _apply_leased(
        self,
        checks: Sequence[Check],
        cost: int,
        now_ms: int,
        reserve: int,
        lease: Lease | None,
        final: bool,
    ) -> StorageAnswer:
        self._evict(now_ms)
        values = self._values
        own = "" if lease is None else lease.lease_id
        keep = 0 if lease is None else lease.keep
        states: list[CounterState] = []
        allowed = True
        for check in checks:
            if check.kind is GCRA:
                state = CounterState(_count(values, check.keys[0]))
                reserve = 0
            else:
                if lease is not None:
                    self._report(check, lease, now_ms)
                leased = self._leased_to_others(check.lease_keys[0], own, now_ms)
                value = _count(values, check.keys[0]) + leased + keep
                previous = 0
                if check.kind is SLIDING:
                    previous = _count(values, check.keys[1])
                    previous += self._leased_to_others(check.lease_keys[1], own, now_ms)
                state = CounterState(value, previous)
            left = room(check, state, cost=cost, now_ms=now_ms)
            if left < 0:
                allowed = False
            if reserve:
                ahead = left // RESERVE_SHARE if left >= RESERVE_MIN_ROOM else 0
                if ahead < reserve:
                    reserve = ahead
            states.append(state)
        if not allowed or lease is None:
            reserve = 0
        for check, state in zip(checks, states, strict=True):
            if allowed and (cost or check.kind is GCRA):
                if check.kind is GCRA:
                    self._count_on(check, state, cost, now_ms)
                else:  # the kept and leased units in `state` are not counts
                    self._count_more(check, cost, now_ms)
            if lease is not None and check.kind is not GCRA:
                self._record(check.lease_keys[0], lease, keep + reserve, final, now_ms)
        return StorageAnswer(allowed, reserve, states)

    def _count_on(self, check: Check, state: CounterState, units: int, now_ms: int) -> None:
        """Store `state` with `units` counted (the request's own state: nothing leased)."""
        value = consumed(check, state, units=units, now_ms=now_ms)
        if check.kind is GCRA:
            expires = value + EXPIRY_MARGIN_MS
        else:
            expires = check.expire_at_ms
            counter = self._values.get(check.keys[0])
            if counter is not None and counter[1] == expires:
                counter[0] = value  # counting on: the expiry is scheduled already
                return
        self._values[check.keys[0]] = [value, expires]
        if expires:
            heapq.heappush(self._expiry, (expires, check.keys[0]))

    def _count_more(self, check: Check, units: int, now_ms: int) -> None:
        """Add `units` to the count of `check` (Redis: INCRBY, and PEXPIRE when new)."""
        counter = self._values.get(check.keys[0])
        if counter is not None:
            counter[0] += units
            return
        expires = check.expire_at_ms
        if expires and expires <= now_ms:
            return  # PEXPIRE in the past deletes the key at once
        self._values[check.keys[0]] = [units, expires]
        if expires:
            heapq.heappush(self._expiry, (expires, check.keys[0]))

    def _report(self, check: Check, lease: Lease, now_ms: int) -> None:
        entry = self._leases.get(check.lease_keys[0], {}).get(lease.lease_id)
        reported = lease.reported if entry is None else entry[2]
        if lease.counted > reported:
            self._count_more(check, lease.counted - reported, now_ms)

    def _leased_to_others(self, lease_key: str, own: str, now_ms: int) -> int:
        held = self._leases.get(lease_key)
        if not held:
            return 0
        total = 0
        for lease_id, (units, until_ms, _) in list(held.items()):
            if lease_id != own and until_ms > now_ms:
                total += units
            if until_ms + LEASE_MEMORY_MS <= now_ms:
                del held[lease_id]
        if not held:
            del self._leases[lease_key]
        return total

    def _record(self, lease_key: str, lease: Lease, units: int, final: bool, now: int) -> None:
        held = self._leases.get(lease_key)
        if final:
            if held is not None:
                held.pop(lease.lease_id, None)
                if not held:
                    del self._leases[lease_key]
            return
        if held is None:
            held = self._leases[lease_key] = {}
        held[lease.lease_id] = [units, lease.until_ms, lease.counted]
        heapq.heappush(self._lease_expiry, (lease.until_ms + LEASE_MEMORY_MS, lease_key))

    async def reset(self) -> None:
        """Forget every counter and lease."""
        self._values.clear()
        self._expiry.clear()
        self._leases.clear()
        self._lease_expiry.clear()

    async def aclose(self) -> None:
        """Nothing to release."""


def _count(values: dict[str, list[int]], key: str) -> int:
    counter = values.get(key)
    return 0 if counter is None else counter[0]
