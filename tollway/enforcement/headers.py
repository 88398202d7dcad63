"""RateLimit headers: X-RateLimit-* for the most constrained window and the IETF fields
(draft-ietf-httpapi-ratelimit-headers-10) with one entry per window and quota."""

from __future__ import annotations

from tollway.ratelimit.checks import admitted_levels
from tollway.ratelimit.decision import Decision
from tollway.ratelimit.types import Check, CheckResult, Level

Header = tuple[bytes, bytes]
MAX_CACHED_SHAPES = 10_000


class _Shape:
    """What the headers of one configuration share: `RateLimit-Policy` and the template of
    `RateLimit`, built once per set of checks (that is, until a window rolls over)."""

    __slots__ = ("checks", "policy", "template")

    def __init__(self, checks: tuple[Check, ...], results: tuple[CheckResult, ...]) -> None:
        self.checks = checks  # held, so that its id() cannot be reused while cached
        self.policy = ", ".join([_policy(r) for r in results]).encode()
        # `t=` only for checks that reset; the template takes (remaining[, seconds]) per check.
        self.template = ", ".join(
            [
                _string(r.name).replace("%", "%%") + ";r=%d" + (";t=%d" if r.reset_ms else "")
                for r in results
            ]
        ).encode()


_shapes: dict[int, _Shape] = {}


def _shape(decision: Decision) -> _Shape:
    checks = decision.checks
    shape = _shapes.get(id(checks))
    if shape is None or shape.checks is not checks:
        if len(_shapes) >= MAX_CACHED_SHAPES:
            _shapes.clear()
        shape = _shapes[id(checks)] = _Shape(checks, decision.results)
    return shape


def ratelimit_headers(decision: Decision, now_ms: int) -> list[Header]:
    """Every RateLimit header for one decision (none when no limit applies)."""
    checks = decision.checks
    if not checks:
        return []
    shape = _shape(decision)
    if decision.allowed:  # the usual case: no `CheckResult` is needed
        levels = admitted_levels(checks, decision.states, cost=decision.cost, now_ms=now_ms)
    else:  # a refused check's `t=` is when this same request would be admitted
        levels = [
            Level(
                r.remaining,
                now_ms + r.retry_after_ms if r.exceeded and r.retry_after_ms else r.reset_ms,
            )
            for r in decision.results
        ]
    values: list[int] = []
    tightest = -1  # fewest remaining among checks that reset (latest reset on ties)
    low = reset_of_low = 0
    for index, (remaining, reset_ms) in enumerate(levels):
        values.append(remaining)
        if reset_ms:  # as in the template: `t=` only for checks that reset
            seconds = (reset_ms - now_ms + 999) // 1000  # to the reset, rounded up
            values.append(seconds if seconds > 0 else 0)
            if tightest < 0 or remaining < low or (remaining == low and reset_ms > reset_of_low):
                tightest, low, reset_of_low = index, remaining, reset_ms
    if tightest < 0:  # nothing resets (TOTAL credits): the fewest remaining
        tightest = min(range(len(levels)), key=lambda i: (levels[i][0], -levels[i][1]))
        low, reset_of_low = levels[tightest]
    reset = -(-reset_of_low // 1000) if reset_of_low else 0
    headers: list[Header] = [
        (b"x-ratelimit-limit", b"%d" % checks[tightest].limit),
        (b"x-ratelimit-remaining", b"%d" % low),
        (b"x-ratelimit-reset", b"%d" % reset),
        (b"ratelimit-policy", shape.policy),
        (b"ratelimit", shape.template % tuple(values)),
    ]
    retry_after = None if decision.allowed else decision.retry_after_seconds
    if retry_after is not None:  # none when no wait would do (spent credits)
        headers.append((b"retry-after", b"%d" % retry_after))
    return headers


def _string(name: str) -> str:
    """A structured-field string (RFC 8941) holding `name`."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _policy(result: CheckResult) -> str:
    window = f";w={result.window_seconds}" if result.window_seconds else ""
    return f"{_string(result.name)};q={result.limit}{window}"
