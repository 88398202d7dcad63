"""Recommendations from generated usage: each kind appears with the evidence computed here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.conftest import GraphQL
from tests.keyhelpers import create_key
from tests.metering.traffic import roll_up, usage_record, write
from tollway.auth.principal import Role
from tollway.metering.records import UsageRecord
from tollway.metering.rollups import RollupJob
from tollway.models import ApiKey
from tollway.ratelimit.checks import period_bounds
from tollway.ratelimit.types import QuotaPeriod

RECOMMENDATIONS = """query($t: ID) { recommendations(tenantId: $t) {
  kind severity title action tenantId keyId route service amount currency
  evidence { name value } } }"""


def event(tenant: str, key: str | None, at: datetime, *, code: str | None = None,
          **fields: Any) -> UsageRecord:  # fmt: skip
    return usage_record(tenant, key, at, route=fields.pop("route", "GET /items"),
                        error_code=code, **fields)  # fmt: skip


def spread(start: datetime, end: datetime, count: int) -> list[datetime]:
    step = (end - start) / count
    return [start + step * i for i in range(count)]


async def age(key_id: str, days: int) -> None:
    await ApiKey.filter(id=key_id).update(created_at=datetime.now(UTC) - timedelta(days=days))


def evidence(rec: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in rec["evidence"]}


async def test_recommendations_carry_their_evidence(gql: GraphQL) -> None:
    tenant = await gql.create_tenant("recs")
    service = f"llm-{uuid.uuid4().hex[:6]}"
    await gql.data(
        "mutation($i: CreateMeteredServiceInput!) { createMeteredService(input: $i) { name } }",
        {"i": {"name": service, "unitType": "tokens"}},
    )
    long_ago = (datetime.now(UTC) - timedelta(days=90)).date().isoformat()
    rate = "mutation($i: CreatePriceRateInput!) { createPriceRate(input: $i) { id } }"
    for name in (service, "api"):
        await gql.data(rate, {"i": {"service": name, "unitPrice": "0.01", "currency": "USD",
                                    "effectiveFrom": long_ago}})  # fmt: skip
    _, quota_key = await create_key(
        gql, tenant, name="busy", quota={"limit": 1000, "period": "MONTH"}
    )
    _, unused = await create_key(gql, tenant, name="forgotten")
    _, roomy = await create_key(
        gql, tenant, name="roomy", rateLimits=[{"limit": 5000, "windowSeconds": 60}]
    )
    _, failing = await create_key(gql, tenant, name="flaky")
    for key in (unused, roomy, failing, quota_key):
        await age(key["id"], 40)

    now = datetime.now(UTC)
    month_start, _ = period_bounds(QuotaPeriod.MONTH, now)
    quota_from = max(month_start, now - timedelta(hours=2))
    recent_end = now - timedelta(minutes=2)
    records = [event(tenant, quota_key["id"], t) for t in spread(quota_from, recent_end, 900)]
    records += [event(tenant, quota_key["id"], t, status=429, code="QUOTA_EXCEEDED")
                for t in spread(quota_from, recent_end, 50)]  # fmt: skip
    peak_hour = (now - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    records += [event(tenant, roomy["id"], t)
                for t in spread(peak_hour, peak_hour + timedelta(minutes=50), 40)]  # fmt: skip
    records += [event(tenant, roomy["id"], now - timedelta(days=d)) for d in (5, 6, 7)]
    fail_from = now - timedelta(days=2)
    for i, t in enumerate(spread(fail_from, recent_end, 210)):
        status, code = (502, None) if i % 7 < 2 else (200, None)
        if i % 21 == 20:
            status, code = 429, "RATE_LIMIT_EXCEEDED"
        records.append(
            event(tenant, failing["id"], t, route="POST /charge", status=status, code=code)
        )
    # a third-party service: 100 units 31 to 59 days ago, 300 in the last 30 days
    records += [event(tenant, None, t, service=service, units=10)
                for t in spread(now - timedelta(days=59), now - timedelta(days=31), 10)]  # fmt: skip
    records += [event(tenant, None, t, service=service, units=10)
                for t in spread(now - timedelta(days=29), recent_end, 30)]  # fmt: skip
    await write(records)
    await roll_up(RollupJob(minute_retention=timedelta(days=2)))

    admin = gql.token(Role.ADMIN, tenant)
    found = (await gql.data(RECOMMENDATIONS, {"t": tenant}, token=admin))["recommendations"]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for rec in found:
        assert rec["tenantId"] in (tenant, None)
        by_kind.setdefault(rec["kind"], []).append(rec)

    (near,) = by_kind["KEY_NEAR_QUOTA"]
    assert near["keyId"] == quota_key["id"] and near["severity"] == "WARNING"
    assert evidence(near)["used"] == "900 (90.0%)"  # the 50 refused requests consume nothing

    (route,) = by_kind["FAILING_ROUTE_SPEND"]
    failed = sum(1 for i in range(210) if i % 7 < 2 and i % 21 != 20)
    assert route["route"] == "POST /charge" and route["keyId"] is None
    assert evidence(route)["failed upstream"] == f"{failed} ({100 * failed / 210:.1f}%)"
    assert Decimal(route["amount"]) == (Decimal("2.10") * failed / 210).quantize(Decimal("0.01"))

    drivers = {r["service"] or r["keyId"]: r for r in by_kind["TOP_COST_DRIVER"]}
    llm = drivers[service]
    assert Decimal(llm["amount"]) == Decimal("3.00") and llm["severity"] == "WARNING"
    assert evidence(llm)["previous 30 days"] == "1.00 USD"
    assert evidence(llm)["growth"] == "+200.0%"
    assert Decimal(drivers[failing["id"]]["amount"]) == Decimal("2.10")

    assert [r["keyId"] for r in by_kind["UNUSED_KEY"]] == [unused["id"]]
    assert evidence(by_kind["UNUSED_KEY"][0])["last used"] == "never"

    # roomy: 5,000 a minute for at most 40 an hour; flaky: its plan's 60 a minute for a few
    hourly: dict[tuple[str | None, datetime], int] = {}
    for r in records:
        slot = (r.key_id, r.at.replace(minute=0, second=0, microsecond=0))
        hourly[slot] = hourly.get(slot, 0) + 1
    above = {r["keyId"]: evidence(r) for r in by_kind["LIMIT_ABOVE_PEAK"]}
    assert set(above) == {roomy["id"], failing["id"]}
    for key in (roomy, failing):
        peak = max(n for (k, _), n in hourly.items() if k == key["id"])
        assert above[key["id"]]["busiest hour (30 days)"] == f"{peak} requests"
    assert found[0]["severity"] == "WARNING"  # most urgent first

    stranger = gql.token(Role.VIEWER, await gql.create_tenant("stranger"))
    assert (await gql.data(RECOMMENDATIONS, {}, token=stranger))["recommendations"] == []
    assert await gql.error_code(RECOMMENDATIONS, {"t": tenant}, token=stranger) == "FORBIDDEN"
