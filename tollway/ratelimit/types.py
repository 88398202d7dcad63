"""Rate-limit vocabulary: algorithms, windows, quotas, checks and decisions."""

from __future__ import annotations

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


@dataclass(slots=True)
class Decision:
    """Allowed or not, and every check's state (for headers)."""

    allowed: bool
    results: tuple[CheckResult, ...]
    # The checks the results were read from: the same tuple for every decision until a window
    # rolls over, so what depends only on the configuration (RateLimit-Policy) can be cached.
    checks: tuple[Check, ...] = field(default=(), compare=False, repr=False)

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
