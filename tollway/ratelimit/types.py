"""Rate-limit vocabulary: algorithms, windows, quotas, checks and decisions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Algorithm(StrEnum):
    """How a window counts."""

    SLIDING_WINDOW = "SLIDING_WINDOW"
    TOKEN_BUCKET = "TOKEN_BUCKET"
    FIXED_WINDOW = "FIXED_WINDOW"


class QuotaPeriod(StrEnum):
    """Calendar periods (UTC) of a quota; TOTAL never resets unless it refills."""

    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    TOTAL = "TOTAL"


@dataclass(frozen=True, slots=True)
class Window:
    """`limit` requests (cost units) per `seconds`. `burst` is the token-bucket capacity."""

    limit: int
    seconds: int
    algorithm: Algorithm = Algorithm.SLIDING_WINDOW
    burst: int | None = None

    @property
    def name(self) -> str:
        """The policy name in RateLimit headers, e.g. `60s`."""
        return f"{self.seconds}s"


@dataclass(frozen=True, slots=True)
class Quota:
    """`limit` units per calendar `period`; a TOTAL quota may refill every `refill`."""

    limit: int
    period: QuotaPeriod
    refill: QuotaPeriod | None = None


class Kind(StrEnum):
    """Counter kinds understood by both backends (and the Lua script)."""

    FIXED = "f"
    SLIDING = "s"
    GCRA = "g"


# Check and CheckResult are built often: plain slotted classes construct several times faster
# than frozen dataclasses. Treat them as immutable all the same.
@dataclass(slots=True)
class Check:
    """One counter to test and consume. Nothing in it depends on the instant within its window
    (or quota period), so one Check serves every request until the window rolls over.

    `interval_ms` is the window length (FIXED, SLIDING) or the GCRA emission interval.
    `expire_at_ms` is when the counter may be forgotten (FIXED, SLIDING; 0: never); a GCRA
    value is kept until its theoretical arrival time has passed.
    """

    name: str
    kind: Kind
    keys: tuple[str, ...]
    limit: int
    interval_ms: int
    burst: int
    reset_ms: int
    expire_at_ms: int
    is_quota: bool
    window_seconds: int
    # The Redis backend's RESP encoding of `keys` and of the per-check arguments, made once.
    wire_keys: bytes | None = field(default=None, compare=False, repr=False)
    wire_args: bytes | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class CheckResult:
    """The state of one check after the request."""

    name: str
    limit: int
    remaining: int
    reset_ms: int
    retry_after_ms: int
    is_quota: bool
    window_seconds: int
    exceeded: bool


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
        states: Sequence[tuple[int, int]] = (),
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
            from tollway.ratelimit.checks import read_result  # checks.py imports this module

            self._results = tuple(
                [
                    read_result(c, s, self.cost, self.now_ms, self.allowed)
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
    def retry_after_seconds(self) -> int:
        """Whole seconds (at least 1) until the denied checks could admit the request."""
        waits = [r.retry_after_ms for r in self.results if r.exceeded]
        return max(1, -(-max(waits, default=1000) // 1000))

    @property
    def most_constrained(self) -> CheckResult | None:
        """The window or quota with the fewest remaining units (latest reset on ties)."""
        if not self.results:
            return None
        return min(self.results, key=lambda r: (r.remaining, -r.reset_ms))
