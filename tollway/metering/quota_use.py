"""How much of its quota each key has used in the current period, from metered usage.

Requests Tollway refused carry an error code and consume no quota, so only their admitted
cost units count. The key cube holds them per day, hour and minute, so a period of any length
is read from rollups but for the last seconds not rolled up yet: alert evaluation, the quota
detector and recommendations read this often.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tollway.auth.principal import Principal
from tollway.keys.limits import quota_from_json
from tollway.metering.analytics import AnalyticsService, UsageQuery
from tollway.metering.buckets import floor
from tollway.metering.dimensions import Dimension
from tollway.models import ApiKey
from tollway.ratelimit.checks import period_bounds
from tollway.ratelimit.types import Quota, QuotaPeriod
from tollway.sql import Granularity


@dataclass(frozen=True, slots=True)
class QuotaUse:
    """One key's quota, its current period and the units used in it."""

    key: ApiKey
    quota: Quota
    start: datetime
    end: datetime | None
    """None for TOTAL credits that never refill."""
    used: int

    @property
    def percent(self) -> float:
        """Used, as a percentage of the quota."""
        return 100.0 * self.used / self.quota.limit


def quota_of(key: ApiKey) -> Quota | None:
    """The key's own quota, else its plan's (the plan must be fetched with the key)."""
    if key.quota is not None:
        return quota_from_json(key.quota)
    plan = key.plan
    return quota_from_json(plan.quota) if plan is not None else None


async def quota_use(
    analytics: AnalyticsService,
    principal: Principal,
    *,
    tenant: UUID | None,
    keys: list[ApiKey],
    now: datetime,
) -> list[QuotaUse]:
    """The use of every key in `keys` that has a quota."""
    by_start: dict[datetime, list[tuple[ApiKey, Quota, datetime | None]]] = defaultdict(list)
    for key in keys:
        quota = quota_of(key)
        if quota is None:
            continue
        period = quota.refill if quota.period is QuotaPeriod.TOTAL else quota.period
        if period is None:  # TOTAL credits: since the key exists (floored to its day, which
            # adds nothing, as the key has no events before it, and reads whole day rollups)
            start, end = floor(Granularity.DAY, key.created_at), None
        else:
            start, end = period_bounds(period, now)
        by_start[start].append((key, quota, end))
    found = []
    for start, entries in by_start.items():
        used = await _admitted_units(analytics, principal, tenant, start, now)
        found += [
            QuotaUse(key, quota, start, end, used.get(str(key.id), 0))
            for key, quota, end in entries
        ]
    return found


async def _admitted_units(
    analytics: AnalyticsService,
    principal: Principal,
    tenant: UUID | None,
    start: datetime,
    now: datetime,
) -> dict[str, int]:
    rows = await analytics.buckets(
        principal,
        UsageQuery(start, now, tenant_id=tenant, filters={Dimension.SERVICE: ""}),
        group_by=[Dimension.API_KEY],
        series=None,
        latency=False,
    )
    used: dict[str, int] = defaultdict(int)
    for row in rows:
        key = row.group.get(Dimension.API_KEY)
        if key is not None:
            used[str(key)] += row.measures.admitted_cost_units
    return used
