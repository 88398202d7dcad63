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
    result = forecast(daily, today, period_start=start, period_end=end)
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
    result = forecast(daily, today, period_start=date(2026, 11, 1), period_end=date(2026, 12, 1))
    assert result.status is ForecastStatus.INSUFFICIENT_DATA
    assert result.projected is None and result.spent == Decimal("9")


def test_the_projection_starts_from_what_is_spent_so_far() -> None:
    today = date(2026, 11, 22)
    history = {today - timedelta(days=d): Decimal("1.00") for d in range(1, 8)}
    spent_today = {today: Decimal("6.50")}  # a day budget, 10% into the day
    result = forecast(
        history | spent_today,
        today,
        period_start=today,
        period_end=today + timedelta(days=1),
        elapsed=0.1,
    )
    assert result.spent == Decimal("6.50")
    assert result.projected == Decimal("7.40")  # 6.50 so far, plus 0.9 of a 1.00 day
    assert result.lower is not None and result.lower >= result.spent
    week = forecast(
        history | spent_today,
        today,
        period_start=today - timedelta(days=2),
        period_end=today + timedelta(5),
        elapsed=0.5,
    )
    assert week.spent == Decimal("8.50") and week.projected == Decimal("13.00")


def test_the_slope_keeps_its_precision() -> None:
    today = date(2026, 11, 22)
    daily = {today - timedelta(days=d): Decimal("1") + Decimal("0.0022") * (10 - d)
             for d in range(1, 11)}  # fmt: skip
    result = forecast(daily, today, period_start=date(2026, 11, 1), period_end=date(2026, 12, 1))
    assert result.slope_per_day is not None
    assert abs(result.slope_per_day - Decimal("0.0022")) < Decimal("0.000001")
