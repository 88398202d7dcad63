"""Rate-limit windows and quotas as stored (JSON) and as the limiter takes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tollway.errors import BadUserInput
from tollway.ratelimit import Algorithm, Quota, QuotaPeriod, Window

MAX_WINDOWS = 10
MAX_LIMIT = 1_000_000_000
MAX_WINDOW_SECONDS = 366 * 86_400


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A window as given by a client, before validation."""

    limit: int
    window_seconds: int
    algorithm: Algorithm = Algorithm.SLIDING_WINDOW
    burst: int | None = None


@dataclass(frozen=True, slots=True)
class QuotaSpec:
    """A quota as given by a client, before validation."""

    limit: int
    period: QuotaPeriod
    refill: QuotaPeriod | None = None


def validate_windows(specs: Sequence[WindowSpec], field: str = "rateLimits") -> list[Window]:
    """Windows with positive limits and lengths, one per length."""
    if len(specs) > MAX_WINDOWS:
        raise BadUserInput(f"{field}: at most {MAX_WINDOWS} windows")
    windows: list[Window] = []
    for spec in specs:
        if not 1 <= spec.limit <= MAX_LIMIT:
            raise BadUserInput(
                f"{field}: limit must be between 1 and {MAX_LIMIT}, got {spec.limit}"
            )
        if not 1 <= spec.window_seconds <= MAX_WINDOW_SECONDS:
            raise BadUserInput(
                f"{field}: windowSeconds must be between 1 and {MAX_WINDOW_SECONDS}, "
                f"got {spec.window_seconds}"
            )
        if spec.burst is not None:
            if spec.algorithm is not Algorithm.TOKEN_BUCKET:
                raise BadUserInput(f"{field}: burst applies to TOKEN_BUCKET windows only")
            if not 1 <= spec.burst <= MAX_LIMIT:
                raise BadUserInput(f"{field}: burst must be between 1 and {MAX_LIMIT}")
        windows.append(Window(spec.limit, spec.window_seconds, spec.algorithm, spec.burst))
    lengths = [w.seconds for w in windows]
    if len(set(lengths)) != len(lengths):
        raise BadUserInput(f"{field}: two windows of the same length")
    return windows


def validate_quota(spec: QuotaSpec | None) -> Quota | None:
    """A quota with a positive limit; refill only on TOTAL credits."""
    if spec is None:
        return None
    if not 1 <= spec.limit <= 10**15:
        raise BadUserInput(f"quota: limit must be between 1 and 10^15, got {spec.limit}")
    if spec.refill is not None and spec.period is not QuotaPeriod.TOTAL:
        raise BadUserInput("quota: refill applies to TOTAL quotas only")
    if spec.refill is QuotaPeriod.TOTAL:
        raise BadUserInput("quota: refill must be DAY, WEEK or MONTH")
    return Quota(spec.limit, spec.period, spec.refill)


def windows_to_json(windows: Sequence[Window]) -> list[dict[str, Any]]:
    """Stored form."""
    return [
        {"limit": w.limit, "seconds": w.seconds, "algorithm": w.algorithm.value, "burst": w.burst}
        for w in windows
    ]


def windows_from_json(data: Sequence[dict[str, Any]] | None) -> list[Window]:
    """Read back the stored form."""
    return [
        Window(d["limit"], d["seconds"], Algorithm(d["algorithm"]), d.get("burst"))
        for d in data or []
    ]


def quota_to_json(quota: Quota | None) -> dict[str, Any] | None:
    """Stored form."""
    if quota is None:
        return None
    refill = quota.refill.value if quota.refill else None
    return {"limit": quota.limit, "period": quota.period.value, "refill": refill}


def quota_from_json(data: dict[str, Any] | None) -> Quota | None:
    """Read back the stored form."""
    if not data:
        return None
    refill = QuotaPeriod(data["refill"]) if data.get("refill") else None
    return Quota(data["limit"], QuotaPeriod(data["period"]), refill)
