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


# Check and CheckResult are built on every request: plain slotted classes construct several
# times faster than frozen dataclasses. Treat them as immutable all the same.
@dataclass(slots=True)
class Check:
    """One counter to test and consume, fully resolved for `now`.

    `interval_ms` is the window length (FIXED, SLIDING) or the GCRA emission interval.
    `weight` (SLIDING) is the part of the previous window still inside the sliding window.
    """

    name: str
    kind: Kind
    keys: tuple[str, ...]
    limit: int
    interval_ms: int
    burst: int
    weight: int
    reset_ms: int
    ttl_ms: int
    is_quota: bool
    window_seconds: int
    # The Redis backend's encoding of `keys` and of kind, limit, interval and burst (RESP
    # bulk strings), kept across copies.
    wire_keys: bytes | None = field(default=None, compare=False, repr=False)
    wire_args: bytes | None = field(default=None, compare=False, repr=False)

    def with_weight(self, weight: int) -> Check:
        """A copy at another instant of the same sliding window."""
        return Check(
            self.name, self.kind, self.keys, self.limit, self.interval_ms, self.burst, weight,
            self.reset_ms, self.ttl_ms, self.is_quota, self.window_seconds, self.wire_keys,
            self.wire_args,
        )  # fmt: skip

    def with_ttl(self, ttl_ms: int) -> Check:
        """A copy with another expiry (calendar quotas, as time passes in their period)."""
        return Check(
            self.name, self.kind, self.keys, self.limit, self.interval_ms, self.burst,
            self.weight, self.reset_ms, ttl_ms, self.is_quota, self.window_seconds,
            self.wire_keys, self.wire_args,
        )  # fmt: skip


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


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed or not, and every check's state (for headers)."""

    allowed: bool
    results: tuple[CheckResult, ...]

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
