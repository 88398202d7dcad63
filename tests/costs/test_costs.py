"""Costs from versioned and tiered rates, exact to the cent; budgets and their events."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tests.conftest import GraphQL, LiveServer
from tests.metering.traffic import roll_up
from tollway.app import build_services
from tollway.auth.principal import Role
from tollway.metering.rollups import RollupJob
from tollway.models import WebhookEndpoint, WebhookMessage

SERVICE = (
    """mutation($i: CreateMeteredServiceInput!) { createMeteredService(input: $i) { name } }"""
)
RATE = """mutation($i: CreatePriceRateInput!) { createPriceRate(input: $i) { id effectiveFrom } }"""
RECORD = """mutation($e: [UsageEventInput!]!) { recordUsage(events: $e) { accepted } }"""
COSTS = """query($f: DateTime!, $t: DateTime!, $by: [CostDimension!]!, $tenant: ID, $s: String) {
  costs(from: $f, to: $t, groupBy: $by, tenantId: $tenant, service: $s) {
    day service currency amount exactAmount units unpricedUnits } }"""


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


async def service(gql: GraphQL, currency: str = "USD") -> str:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    await gql.data(SERVICE, {"i": {"name": name, "unitType": "tokens", "currency": currency}})
    return name


def reported_at(day: date) -> datetime:
    """Noon of `day`, or (early today) a moment already past."""
    now = datetime.now(UTC) - timedelta(seconds=1)
    return max(midnight(day), min(midnight(day) + timedelta(hours=12), now))


async def report(gql: GraphQL, tenant: str, name: str, days: dict[date, int], **extra: Any) -> None:
    events = [
        {"eventId": f"{name}-{day}-{i}", "service": name, "units": units, "tenantId": tenant,
         "at": reported_at(day).isoformat(), **extra}
        for i, (day, units) in enumerate(days.items())
    ]  # fmt: skip
    await gql.data(RECORD, {"e": events})


async def test_versioned_rates_price_each_day_exactly(gql: GraphQL) -> None:
    tenant = await gql.create_tenant("costs")
    name = await service(gql)
    today = datetime.now(UTC).date()
    old, new = Decimal("0.000002"), Decimal("0.0000031")
    for price, since in ((old, today - timedelta(days=10)), (new, today - timedelta(days=3))):
        rate = {"service": name, "unitPrice": str(price), "currency": "USD",
                "effectiveFrom": since.isoformat()}  # fmt: skip
        await gql.data(RATE, {"i": rate})
    days = {today - timedelta(days=n): 123_457 * n for n in range(1, 7)}
    await report(gql, tenant, name, days)
    extra_day = today - timedelta(days=2)
    await gql.data(RECORD, {"e": [{
        "eventId": f"{name}-billed", "service": name, "units": 100, "tenantId": tenant,
        "cost": "0.25", "at": (midnight(extra_day) + timedelta(hours=1)).isoformat()}]})  # fmt: skip
    await roll_up(RollupJob(minute_retention=timedelta(days=2)))
    window = {"f": midnight(today - timedelta(days=6)).isoformat(),
              "t": midnight(today + timedelta(days=1)).isoformat(), "tenant": tenant, "s": name}  # fmt: skip
    lines = (await gql.data(COSTS, {**window, "by": ["DAY"]}))["costs"]
    expected = {
        day: units * (new if day >= today - timedelta(days=3) else old)
        + (Decimal("0.25") if day == extra_day else 0)
        for day, units in days.items()
    }
    expected[today] = Decimal(0)  # a day without cost is there, with zero
    assert [date.fromisoformat(c["day"]) for c in lines] == sorted(expected)  # date order
    assert {date.fromisoformat(c["day"]): Decimal(c["exactAmount"]) for c in lines} == expected
    for line in lines:  # shown in cents, rounded half up
        assert (
            line["amount"]
            == f"{Decimal(line['exactAmount']).quantize(Decimal('0.01'), ROUND_HALF_UP)}"
        )
    named = COSTS.replace("day service", "day service tenantId tenantName")
    (by_tenant,) = (await gql.data(named, {**window, "by": ["TENANT"]}))["costs"]
    assert by_tenant["tenantId"] == tenant and by_tenant["tenantName"].startswith("costs-")
    total = (await gql.data(COSTS, {**window, "by": ["SERVICE"]}))["costs"]
    assert [(c["service"], Decimal(c["exactAmount"]), c["currency"]) for c in total] == [
        (name, sum(expected.values()), "USD")
    ]


async def test_graduated_tiers_count_units_from_the_month_start(gql: GraphQL) -> None:
    tenant = await gql.create_tenant("tiers")
    name = await service(gql, currency="EUR")
    today = datetime.now(UTC).date()
    tiers = [{"upTo": 1000, "unitPrice": "0.01"}, {"upTo": None, "unitPrice": "0.005"}]
    rate = {"service": name, "unitPrice": "0", "currency": "EUR",
            "effectiveFrom": (today - timedelta(days=40)).isoformat(), "tiers": tiers}  # fmt: skip
    await gql.data(RATE, {"i": rate})
    days = {today - timedelta(days=n): 600 for n in (3, 2, 1)}
    await report(gql, tenant, name, days)
    await roll_up(RollupJob(minute_retention=timedelta(days=2)))
    window = {"f": midnight(today - timedelta(days=3)).isoformat(),
              "t": midnight(today).isoformat(), "tenant": tenant, "s": name}  # fmt: skip
    lines = (await gql.data(COSTS, {**window, "by": ["DAY"]}))["costs"]
    used: dict[tuple[int, int], int] = defaultdict(int)
    expected = {}
    for day in sorted(days):  # independent: graduated price of the month's running total
        month = (day.year, day.month)

        def price(units: int) -> Decimal:
            return Decimal("0.01") * min(units, 1000) + Decimal("0.005") * max(0, units - 1000)

        expected[day] = price(used[month] + days[day]) - price(used[month])
        used[month] += days[day]
    assert {date.fromisoformat(c["day"]): Decimal(c["amount"]) for c in lines} == expected
    assert {c["currency"] for c in lines} == {"EUR"}


async def test_bad_rates_are_refused(gql: GraphQL) -> None:
    name = await service(gql)
    base = {"service": name, "unitPrice": "1", "currency": "USD", "effectiveFrom": "2026-01-01"}
    assert await gql.error_code(RATE, {"i": {**base, "currency": "EUR"}}) == "BAD_USER_INPUT"
    assert await gql.error_code(RATE, {"i": {**base, "unitPrice": "-1"}}) == "BAD_USER_INPUT"
    assert await gql.error_code(RATE, {"i": {**base, "service": "nope-x"}}) == "NOT_FOUND"
    bad_tiers = [{"upTo": 10, "unitPrice": "1"}, {"upTo": 5, "unitPrice": "1"}]
    assert await gql.error_code(RATE, {"i": {**base, "tiers": bad_tiers}}) == "BAD_USER_INPUT"
    await gql.data(RATE, {"i": base})
    assert await gql.error_code(RATE, {"i": base}) == "CONFLICT"
    tenant = await gql.create_tenant("rates")
    admin = gql.token(Role.ADMIN, tenant)
    assert await gql.error_code(RATE, {"i": base}, token=admin) == "FORBIDDEN"


async def test_budget_thresholds_are_recorded_once_per_period(
    gql: GraphQL, server: LiveServer
) -> None:
    tenant = await gql.create_tenant("budget")
    name = await service(gql)
    today = datetime.now(UTC).date()
    await gql.data(RATE, {"i": {"service": name, "unitPrice": "0.01", "currency": "USD",
                                "effectiveFrom": (today - timedelta(days=5)).isoformat()}})  # fmt: skip
    await report(gql, tenant, name, {today: 850})  # 8.50 of 10.00: past 50% and 80%
    await roll_up(RollupJob(minute_retention=timedelta(days=2)))
    admin = gql.token(Role.ADMIN, tenant)
    created = await gql.data(
        """mutation($i: CreateBudgetInput!) { createBudget(input: $i) { id thresholds } }""",
        {"i": {"name": "llm", "scope": "SERVICE", "service": name, "period": "DAY",
               "amount": "10", "currency": "USD"}},
        token=admin,
    )  # fmt: skip
    budget = created["createBudget"]
    assert budget["thresholds"] == [50, 80, 100]
    hook = await gql.data(
        """mutation($t: ID!) { createWebhookEndpoint(input: {tenantId: $t,
           url: "https://93.184.216.34/hooks", eventTypes: ["budget.*"]}) { endpoint { id } } }""",
        {"t": tenant}, token=admin,
    )  # fmt: skip
    services = build_services(server.settings)
    await services.bus.connect()
    try:
        first = await asyncio.gather(services.budgets.evaluate(), services.budgets.evaluate())
        assert await services.budgets.evaluate() == 0
        # Each crossing is one webhook event, written with it (concurrent evaluations too).
        outbox = await WebhookMessage.filter(tenant_id=tenant).select_related("event")
        assert sorted(m.event.data["threshold"] for m in outbox) == [50, 80]
        assert {m.event_type for m in outbox} == {"budget.threshold_crossed"}
    finally:
        await WebhookEndpoint.filter(id=hook["createWebhookEndpoint"]["endpoint"]["id"]).delete()
        await services.bus.disconnect()
    events = await gql.data(
        "query($id: ID!) { budgetEvents(id: $id) { threshold spend } }",
        {"id": budget["id"]}, token=admin,
    )  # fmt: skip
    mine = sorted(e["threshold"] for e in events["budgetEvents"])
    assert mine == [50, 80] and sum(first) >= 2
    assert {Decimal(e["spend"]) for e in events["budgetEvents"]} == {Decimal("8.5")}
    status = await gql.data(
        """query($id: ID!) { budgetStatus(id: $id) { spent percentUsed
           forecast { status projected } } }""",
        {"id": budget["id"]}, token=admin,
    )  # fmt: skip
    assert Decimal(status["budgetStatus"]["spent"]) == Decimal("8.5")
    assert status["budgetStatus"]["percentUsed"] == 85.0
    assert status["budgetStatus"]["forecast"]["status"] == "INSUFFICIENT_DATA"
    other = gql.token(Role.VIEWER, await gql.create_tenant("nosy"))
    query = "query($id: ID!) { budgetStatus(id: $id) { spent } }"
    assert await gql.error_code(query, {"id": budget["id"]}, token=other) == "FORBIDDEN"
    mismatch = {"name": "x", "scope": "SERVICE", "service": name, "period": "DAY",
                "amount": "5", "currency": "EUR"}  # fmt: skip
    assert await gql.error_code(
        "mutation($i: CreateBudgetInput!) { createBudget(input: $i) { id } }", {"i": mismatch},
        token=admin,
    ) == "BAD_USER_INPUT"  # fmt: skip
