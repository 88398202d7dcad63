"""A per-address budget of unknown secrets, so that guessing keys costs the database nothing.

Each secret no key has counts against its client address in a fixed window (the limiter's
memory counters, per instance). Once an address has spent its budget, its requests with a
secret not already in the key cache are refused at once (429 with Retry-After, stored as
security events like any denial) until the window ends: a flood of random keys never reaches
the database and never slows other clients. Keys already cached keep working from anywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from tollway.ratelimit import Algorithm, Limiter, MemoryStorage, Window
from tollway.ratelimit.blocklist import Blocklist


class InvalidKeyBudget:
    """`limit` unknown secrets per address per `seconds`; 0 turns the budget off."""

    def __init__(self, limit: int, seconds: int, *, clock: Callable[[], int]) -> None:
        self.limit = limit
        self._windows = (Window(limit, seconds, Algorithm.FIXED_WINDOW),) if limit else ()
        self._clock = clock
        self._limiter = Limiter(MemoryStorage(), clock)
        self._blocked = Blocklist(clock)

    def retry_after_ms(self, address: str | None) -> int | None:
        """How long `address` must wait before presenting an uncached secret; None: it may."""
        return self._blocked.retry_after_ms(address)

    def unknown_secret(self, address: str | None) -> None:
        """Count one unknown secret from `address` against its budget."""
        if address is None or not self._windows:
            return
        now_ms = self._clock()
        decision = self._limiter.hit_now(
            f"invalid-keys:{address}",
            self._windows,
            quota=None,
            cost=1,
            route_windows=(),
            route="",
            now_ms=now_ms,
        )
        if decision is not None and not decision.allowed:
            self._blocked.refused(address, decision, now_ms=now_ms)
