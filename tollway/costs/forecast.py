"""End-of-period spend forecast: a linear trend over the daily series, with a 95% prediction
interval, and an honest answer when there is too little data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

MIN_DAYS = 3
LOOKBACK_DAYS = 28
CENT = Decimal("0.01")
# Two-sided 95% Student t quantiles by degrees of freedom (beyond 30: the normal 1.96).
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042]  # fmt: skip


class ForecastStatus(StrEnum):
    """Whether the forecast rests on enough history."""

    OK = "OK"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


@dataclass(frozen=True, slots=True)
class Forecast:
    """Projected spend at the end of the period (None without enough data)."""

    status: ForecastStatus
    spent: Decimal
    projected: Decimal | None
    lower: Decimal | None
    upper: Decimal | None
    history_days: int
    slope_per_day: Decimal | None


def t95(degrees: int) -> float:
    """The 97.5th percentile of Student's t."""
    return _T95[degrees - 1] if 1 <= degrees <= len(_T95) else 1.96


def _cents(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def forecast(
    daily: dict[date, Decimal],
    today: date,
    *,
    period_start: date,
    period_end: date,
    elapsed: float = 0.0,
) -> Forecast:
    """Forecast spend for [period_start, period_end) (end exclusive) from `daily` amounts.

    The trend is fitted to the complete days before `today` (up to 28, from the first day
    with spend), and projected over what is left of the period: the `elapsed` fraction of
    today has passed, so the rest of today counts for `1 - elapsed` of a day. What was spent
    in the period so far, today included, is added as it is: the forecast is never below it.
    """
    spent = sum((a for d, a in daily.items() if period_start <= d <= today), Decimal(0))
    first_seen = min((d for d, a in daily.items() if a and d < today), default=None)
    start = max(today - timedelta(days=LOOKBACK_DAYS), first_seen or today)
    days = [start + timedelta(days=i) for i in range((today - start).days)]
    n = len(days)
    if n < MIN_DAYS:
        return Forecast(ForecastStatus.INSUFFICIENT_DATA, spent, None, None, None, n, None)
    xs = [float(i) for i in range(n)]
    ys = [float(daily.get(d, Decimal(0))) for d in days]
    x_mean, y_mean = sum(xs) / n, sum(ys) / n
    sxx = sum((x - x_mean) ** 2 for x in xs)
    slope = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = y_mean - slope * x_mean
    # Each day left, with the weight of its part still to come (today's is partial).
    left = [
        (float(n + i), 1.0 - elapsed if i == 0 else 1.0) for i in range((period_end - today).days)
    ]
    predicted = sum(w * max(0.0, intercept + slope * x) for x, w in left)
    residuals = [y - (intercept + slope * x) for x, y in zip(xs, ys, strict=True)]
    sigma = math.sqrt(sum(r * r for r in residuals) / (n - 2)) if n > 2 else 0.0
    weight = sum(w for _, w in left)
    spread = sum(w * (x - x_mean) for x, w in left)
    squares = sum(w * w for _, w in left)
    se = sigma * math.sqrt(squares + weight * weight / n + spread * spread / sxx) if left else 0.0
    margin = t95(n - 2) * se
    base = float(spent)
    return Forecast(
        status=ForecastStatus.OK,
        spent=spent,
        projected=_cents(base + predicted),
        lower=_cents(max(base, base + predicted - margin)),
        upper=_cents(base + predicted + margin),
        history_days=n,
        slope_per_day=Decimal(repr(slope)),
    )
