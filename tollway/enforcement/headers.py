"""RateLimit headers: X-RateLimit-* for the most constrained window and the IETF fields
(draft-ietf-httpapi-ratelimit-headers-10) with one entry per window and quota."""

from __future__ import annotations

from tollway.ratelimit.types import CheckResult, Decision

Header = tuple[bytes, bytes]


def _seconds_until(reset_ms: int, now_ms: int) -> int:
    return max(0, -(-(reset_ms - now_ms) // 1000))


def ratelimit_headers(decision: Decision, now_ms: int) -> list[Header]:
    """Every RateLimit header for one decision (none when no limit applies)."""
    results = decision.results
    if not results:
        return []
    timed = [r for r in results if r.reset_ms] or list(results)
    tightest = min(timed, key=lambda r: (r.remaining, -r.reset_ms))
    headers: list[Header] = [
        (b"x-ratelimit-limit", str(tightest.limit).encode()),
        (b"x-ratelimit-remaining", str(tightest.remaining).encode()),
        (
            b"x-ratelimit-reset",
            str(-(-tightest.reset_ms // 1000) if tightest.reset_ms else 0).encode(),
        ),
        (b"ratelimit-policy", ", ".join(_policy(r) for r in results).encode()),
        (b"ratelimit", ", ".join(_state(r, now_ms) for r in results).encode()),
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
