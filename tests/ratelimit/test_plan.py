"""Compiled plans produce exactly the checks `build_checks` would, at every instant."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tollway.ratelimit import Algorithm, Quota, QuotaPeriod, Window
from tollway.ratelimit.checks import build_checks
from tollway.ratelimit.plan import CheckPlan

windows = st.lists(
    st.builds(
        Window,
        limit=st.integers(1, 1000),
        seconds=st.sampled_from([1, 7, 60, 3600, 86_400]),
        algorithm=st.sampled_from(list(Algorithm)),
        burst=st.none() | st.integers(1, 50),
    ),
    max_size=3,
)
quotas = st.none() | st.builds(
    Quota,
    limit=st.integers(1, 10**6),
    period=st.sampled_from(list(QuotaPeriod)),
    refill=st.none() | st.sampled_from([QuotaPeriod.DAY, QuotaPeriod.MONTH]),
)
# Instants around month, week and day boundaries, moving forwards and sometimes back.
instants = st.lists(
    st.integers(1_700_000_000_000, 1_700_000_000_000 + 90 * 86_400_000), min_size=1, max_size=40
)


@settings(max_examples=300, deadline=None)
@given(windows, windows, quotas, instants)
def test_plan_equals_build_checks(
    own: list[Window], route: list[Window], quota: Quota | None, times: list[int]
) -> None:
    if quota is not None and quota.period is not QuotaPeriod.TOTAL:
        quota = Quota(quota.limit, quota.period)
    plan = CheckPlan("key-1", tuple(own), quota=quota, route_windows=tuple(route), route="GET /r")
    for now in sorted(times) + times:
        assert list(plan.at(now)) == build_checks(
            "key-1", own, quota=quota, now_ms=now, route_windows=route, route="GET /r"
        )
