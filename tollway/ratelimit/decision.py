"""A limiter's decision on one request, and the state of every check it was made on."""

from __future__ import annotations

from collections.abc import Sequence

from tollway.clock import whole_seconds
from tollway.ratelimit.checks import read_result
from tollway.ratelimit.types import Check, CheckResult, CounterState


class Decision:
    """Allowed or not, and every check's state (for headers).

    Holds what the storage answered (`states`, per check); the `CheckResult`s are read from
    it only when asked for: the headers of an admitted request need only
    `checks.admitted_levels`.
    """

    __slots__ = ("_results", "allowed", "checks", "cost", "now_ms", "states")

    def __init__(
        self,
        allowed: bool,
        checks: tuple[Check, ...] = (),
        *,
        states: Sequence[CounterState] = (),
        cost: int = 1,
        now_ms: int = 0,
    ) -> None:
        self.allowed = allowed
        # The same tuple for every decision until a window rolls over, so what depends only
        # on the configuration (RateLimit-Policy) can be cached by it.
        self.checks = checks
        self.states = states
        self.cost = cost
        self.now_ms = now_ms
        self._results: tuple[CheckResult, ...] | None = None

    @property
    def results(self) -> tuple[CheckResult, ...]:
        """Every check's state after the request."""
        if self._results is None:
            self._results = tuple(
                [
                    read_result(c, s, cost=self.cost, now_ms=self.now_ms, allowed=self.allowed)
                    for c, s in zip(self.checks, self.states, strict=True)
                ]
            )
        return self._results

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self.allowed == other.allowed and self.results == other.results

    def __repr__(self) -> str:
        return f"Decision(allowed={self.allowed}, results={self.results!r})"

    @property
    def quota_exceeded(self) -> bool:
        """Denied because of a quota (not a window)."""
        return any(r.exceeded and r.is_quota for r in self.results) and not any(
            r.exceeded and not r.is_quota for r in self.results
        )

    @property
    def never_admitted(self) -> bool:
        """Denied by a check that will never admit this request (spent credits that do not
        refill, or a cost above a limit): no wait helps."""
        return any(r.exceeded and r.retry_after_ms is None for r in self.results)

    @property
    def retry_after_seconds(self) -> int | None:
        """Whole seconds (at least 1) after which this same request would be admitted, with
        no other traffic meanwhile; None when no wait would do (`never_admitted`)."""
        if self.never_admitted:
            return None
        waits = [r.retry_after_ms or 0 for r in self.results if r.exceeded]
        return whole_seconds(max(waits, default=1000))

    @property
    def most_constrained(self) -> CheckResult | None:
        """The window or quota with the fewest remaining units (latest reset on ties)."""
        if not self.results:
            return None
        return min(self.results, key=lambda r: (r.remaining, -r.reset_ms))
