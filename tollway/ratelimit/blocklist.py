"""Addresses refused until a moment: what a spent per-address budget leaves behind, so that
the refusals after it cost no counter round trip."""

from __future__ import annotations

from collections.abc import Callable

from tollway.ratelimit.decision import Decision

MAX_ADDRESSES = 100_000


class Blocklist:
    """At most `MAX_ADDRESSES` addresses, each until its window lets it try again."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._until: dict[str, int] = {}

    def retry_after_ms(self, address: str | None) -> int | None:
        """How long `address` must wait; None when it is not blocked."""
        if address is None or not self._until:
            return None
        until = self._until.get(address)
        if until is None:
            return None
        now_ms = self._clock()
        if until <= now_ms:
            del self._until[address]
            return None
        return until - now_ms

    def refused(self, address: str, decision: Decision, *, now_ms: int) -> int:
        """Block `address` for as long as `decision` (a refusal) says; the wait in ms."""
        if len(self._until) >= MAX_ADDRESSES:
            self._until.clear()
        wait = max(max((r.retry_after_ms or 0 for r in decision.results), default=0), 1)
        self._until[address] = now_ms + wait
        return wait
