"""RateLimit headers: X-RateLimit-* for the most constrained window and the IETF fields
(draft-ietf-httpapi-ratelimit-headers-10) with one entry per window and quota."""

from __future__ import annotations

from tollway.ratelimit.types import CheckResult, Decision

Header = tuple[bytes, bytes]


def _seconds_until(reset_ms: int, now_ms: int) -> int:
    return max(0, -(-(reset_ms - now_ms) // 1000))


_policies: dict[tuple[tuple[str, int, int], ...], bytes] = {}
MAX_CACHED_POLICIES = 10_000


def _policy_header(results: tuple[CheckResult, ...]) -> bytes:
    """`RateLimit-Policy` changes only with the configuration: cached."""
    shape = tuple([(r.name, r.limit, r.window_seconds) for r in results])
    value = _policies.get(shape)
    if value is None:
        if len(_policies) >= MAX_CACHED_POLICIES:
            _policies.clear()
        value = _policies[shape] = ", ".join([_policy(r) for r in results]).encode()
    return value


def _tightest(results: tuple[CheckResult, ...]) -> CheckResult:
    """Fewest remaining units among the checks that reset (latest reset on ties)."""
    best: CheckResult | None = None
    for r in results:
        if r.reset_ms and (
            best is None
            or r.remaining < best.remaining
            or (r.remaining == best.remaining and r.reset_ms > best.reset_ms)
        ):
            best = r
    if best is None:
        return min(results, key=lambda r: (r.remaining, -r.reset_ms))
    return best


def ratelimit_headers(decision: Decision, now_ms: int) -> list[Header]:
    """Every RateLimit header for one decision (none when no limit applies)."""
    results = decision.results
    if not results:
        return []
    tightest = _tightest(results)
    reset = -(-tightest.reset_ms // 1000) if tightest.reset_ms else 0
    headers: list[Header] = [
        (b"x-ratelimit-limit", b"%d" % tightest.limit),
        (b"x-ratelimit-remaining", b"%d" % tightest.remaining),
        (b"x-ratelimit-reset", b"%d" % reset),
        (b"ratelimit-policy", _policy_header(results)),
        (b"ratelimit", ", ".join([_state(r, now_ms) for r in results]).encode()),
    ]
    if not decision.allowed:
        headers.append((b"retry-after", str(decision.retry_after_seconds).encode()))
    return headers


def _policy(result: CheckResult) -> str:
    window = f";w={result.window_seconds}" if result.window_seconds else ""
    return f'"{result.name}";q={result.limit}{window}'


def _state(result: CheckResult, now_ms: int) -> str:
    reset = f";t={_seconds_until(result.reset_ms, now_ms)}" if result.reset_ms else ""
    return f'"{result.name}";r={result.remaining}{reset}'
