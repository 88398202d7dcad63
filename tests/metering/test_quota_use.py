"""A key's quota use comes from rollups: bounded reads however long the period, and only the
requests Tollway admitted count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from tests.conftest import GraphQL
from tests.keyhelpers import create_key
from tests.metering.traffic import roll_up, write
from tollway.auth.principal import WORKER
from tollway.metering.analytics import AnalyticsService
from tollway.metering.buckets import floor
from tollway.metering.quota_use import quota_use
from tollway.metering.records import UsageRecord
from tollway.metering.rollups import SETTLE, RollupJob
from tollway.models import ApiKey, UsageEvent
from tollway.sql import Granularity

JOB = RollupJob(minute_retention=timedelta(days=2))


def event(tenant: str, key: str, at: datetime, refused: bool) -> UsageRecord:
    return UsageRecord(
        event_id=None, at=at, tenant_id=tenant, key_id=key, method="GET", route="/q",
        path="/q", status=429 if refused else 200,
        error_code="RATE_LIMIT_EXCEEDED" if refused else None, latency_ms=1.0,
        request_bytes=0, response_bytes=2, client_ip=None, user_agent=None, api_version=None,
        cost_units=3,
    )  # fmt: skip


async def test_quota_use_counts_admitted_units_from_rollups(gql: GraphQL) -> None:
    tenant = await gql.create_tenant()
    _, created = await create_key(gql, tenant, quota={"limit": 10_000, "period": "MONTH"})
    now = datetime.now(UTC)
    # Minutes of this month and this hour, rolled up by now (older than the settle time).
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    earliest = max(month, now - timedelta(minutes=40))
    latest = floor(Granularity.MINUTE, now - SETTLE) - timedelta(minutes=1)
    moments = [earliest + (latest - earliest) * i / 60 for i in range(60)]
    events = [event(tenant, created["id"], at, refused=i % 3 == 0) for i, at in enumerate(moments)]
    await write(events)
    await roll_up(JOB)
    # The raw events are gone (as after their retention): only rollups can answer now.
    await UsageEvent.filter(key_id=created["id"]).delete()
    key = await ApiKey.get(id=created["id"]).prefetch_related("plan")
    analytics = AnalyticsService(JOB, timedelta(days=90), page_size_max=100)
    (use,) = await quota_use(analytics, WORKER, tenant=UUID(tenant), keys=[key], now=now)
    assert use.used == 40 * 3  # the 40 admitted of 60, at 3 units each; refusals cost nothing
