"""Rate-limit vocabulary: algorithms, windows, quotas, checks, states and storage answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple


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
    value is kept until its theoretical arrival time has passed. `lease_keys` name where the
    units leased to reservations are kept, one per key of `keys` (none for GCRA, which is
    never reserved from).
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
    lease_keys: tuple[str, ...] = ()
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
    retry_after_ms: int | None  # None: never (spent credits that do not refill)
    is_quota: bool
    window_seconds: int
    exceeded: bool


class CounterState(NamedTuple):
    """One check's stored state before a request: `value` is the current count (FIXED,
    SLIDING) or the theoretical arrival time in ms (GCRA); `previous` the previous window's
    count (SLIDING; 0 otherwise). Units leased to other reservations count as used."""

    value: int
    previous: int = 0


class Level(NamedTuple):
    """What a check has left after a request, and when it resets (0: never)."""

    remaining: int
    reset_ms: int


@dataclass(frozen=True, slots=True)
class Lease:
    """A reservation's standing in the storage, sent with each of its requests.

    `counted` is every unit the reservation has handed out since it began (cumulative, so a
    repeated report never counts twice); `reported` how many of them the storage has
    acknowledged (used if it has forgotten the lease); `keep` the units it still holds and
    keeps leased; `until_ms` when the storage lets the lease go by itself (a crashed
    instance's units).
    """

    lease_id: str
    counted: int
    reported: int
    keep: int
    until_ms: int


class StorageAnswer(NamedTuple):
    """What a storage answers for one request."""

    allowed: bool
    reserved: int  # units newly leased to the caller's reservation
    states: list[CounterState]  # each check's state before the request
