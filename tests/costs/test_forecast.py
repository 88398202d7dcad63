"""The spend forecast against an independent least-squares fit."""

from __future__ import annotations

import math
import statistics
from datetime import date, timedelta
from decimal import Decimal

from tollway.costs.forecast import ForecastStatus, forecast, t95


def test_linear_trend_and_interval_match_an_independent_fit() -> None:
    today = date(2026, 11, 22)
    start, end = date(2026, 11, 1), date(2026, 12, 1)
    amounts = [Decimal("10.00") + Decimal("0.75") * i + Decimal((-1) ** i) for i in range(21)]
    daily = {start + timedelta(days=i): a for i, a in enumerate(amounts)}
    result = forecast(daily, today, start, end)
    assert result.status is ForecastStatus.OK
    ys = [float(a) for a in amounts]
    xs = list(range(len(ys)))
    slope, intercept = statistics.linear_regression(xs, ys)
    future = range(len(ys), len(ys) + (end - today).days)
    predicted = sum(intercept + slope * x for x in future)
    spent = sum(amounts)
    assert result.spent == spent
    assert result.projected is not None and result.lower is not None and result.upper is not None
    assert abs(float(result.projected) - (float(spent) + predicted)) <= 0.005
    residuals = [y - (intercept + slope * x) for x, y in zip(xs, ys, strict=True)]
    sigma = math.sqrt(sum(r * r for r in residuals) / (len(ys) - 2))
    mean_x = statistics.fmean(xs)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    k = len(future)
    spread = sum(x - mean_x for x in future)
    margin = t95(len(ys) - 2) * sigma * math.sqrt(k + k * k / len(ys) + spread**2 / sxx)
    assert abs(float(result.upper) - (float(spent) + predicted + margin)) <= 0.005
    assert result.lower < result.projected < result.upper


def test_too_little_history_says_so() -> None:
    today = date(2026, 11, 3)
    daily = {date(2026, 11, 1): Decimal("4"), date(2026, 11, 2): Decimal("5")}
    result = forecast(daily, today, date(2026, 11, 1), date(2026, 12, 1))
    assert result.status is ForecastStatus.INSUFFICIENT_DATA
    assert result.projected is None and result.spent == Decimal("9")
