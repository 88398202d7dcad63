"""Rollups and the analytics API against totals computed independently from generated traffic."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import GraphQL
from tests.keyhelpers import create_key
from tests.metering.traffic import Traffic, generate, roll_up, write
from tollway.auth.principal import Role
from tollway.metering.records import UsageRecord
from tollway.metering.rollups import RollupJob
from tollway.metering.sketch import RELATIVE_ACCURACY

USAGE = """query($f: DateTime!, $t: DateTime!, $tenant: ID, $key: ID) {
  usage(from: $f, to: $t, tenantId: $tenant, apiKeyId: $key) {
    totalRequests errorRequests serverErrorRequests rejectedRequests requestBytes responseBytes
    p50LatencyMs p95LatencyMs p99LatencyMs } }"""
SERIES = """query($f: DateTime!, $t: DateTime!, $tenant: ID, $g: UsageGranularity!) {
  usageSeries(from: $f, to: $t, tenantId: $tenant, granularity: $g) { at totalRequests } }"""
BREAKDOWN = """query($f: DateTime!, $t: DateTime!, $tenant: ID, $by: [UsageDimension!]!) {
  usageBreakdown(from: $f, to: $t, tenantId: $tenant, groupBy: $by, first: 100) {
    group { apiKeyId route errorCode statusClass } totalRequests errorRequests p95LatencyMs } }"""

JOB = RollupJob(minute_retention=timedelta(days=2))


def iso(moment: datetime) -> str:
    return moment.isoformat()


def expected(records: list[UsageRecord]) -> dict[str, int]:
    return {
        "totalRequests": len(records),
        "errorRequests": sum(r.status >= 400 for r in records),
        "serverErrorRequests": sum(r.status >= 500 for r in records),
        "rejectedRequests": sum(r.error_code is not None for r in records),
        "requestBytes": sum(r.request_bytes for r in records),
        "responseBytes": sum(r.response_bytes for r in records),
    }


def assert_percentiles(answer: dict[str, Any], records: list[UsageRecord]) -> None:
    """Each percentile within the sketch's relative accuracy of the true value at its rank."""
    latencies = sorted(r.latency_ms for r in records)
    for field, q in (("p50LatencyMs", 0.5), ("p95LatencyMs", 0.95), ("p99LatencyMs", 0.99)):
        true = latencies[int(q * (len(latencies) - 1))]
        assert abs(answer[field] - true) <= RELATIVE_ACCURACY * true + 0.001, (field, true)


@pytest.fixture
async def traffic(gql: GraphQL) -> Traffic:
    """Two days of generated traffic for a new tenant with three keys, plus the last minute."""
    tenant = await gql.create_tenant("usage")
    keys = [(await create_key(gql, tenant))[1]["id"] for _ in range(3)]
    now = datetime.now(UTC)
    records = generate(tenant, keys, now - timedelta(hours=50), now - timedelta(minutes=1), 900, 7)
    recent = generate(tenant, keys, now - timedelta(seconds=30), now, 40, 8)
    await write(records + recent)
    await roll_up(JOB)
    return Traffic(tenant, keys, records + recent)


async def test_usage_totals_and_percentiles_match_the_events(
    gql: GraphQL, traffic: Traffic
) -> None:
    start = datetime.now(UTC) - timedelta(days=3)
    end = datetime.now(UTC) + timedelta(minutes=1)
    data = await gql.data(USAGE, {"f": iso(start), "t": iso(end), "tenant": traffic.tenant_id})
    records = traffic.between(start, end)
    assert {k: data["usage"][k] for k in expected(records)} == expected(records)
    assert_percentiles(data["usage"], records)
    key = traffic.key_ids[0]
    ranged_start = start + timedelta(hours=27, minutes=13, seconds=7)  # ragged edges
    ranged_end = end - timedelta(hours=5, minutes=41)
    one = await gql.data(
        USAGE,
        {"f": iso(ranged_start), "t": iso(ranged_end), "tenant": traffic.tenant_id, "key": key},
    )
    mine = traffic.between(ranged_start, ranged_end, key)
    assert {k: one["usage"][k] for k in expected(mine)} == expected(mine)
    assert_percentiles(one["usage"], mine)


async def test_series_and_breakdowns_add_up(gql: GraphQL, traffic: Traffic) -> None:
    now = datetime.now(UTC)
    start, end = now - timedelta(days=3), now + timedelta(minutes=1)
    variables = {"f": iso(start), "t": iso(end), "tenant": traffic.tenant_id}
    hourly = (await gql.data(SERIES, {**variables, "g": "HOUR"}))["usageSeries"]
    per_hour = Counter(r.at.replace(minute=0, second=0, microsecond=0) for r in traffic.records)
    assert {p["at"]: p["totalRequests"] for p in hourly if p["totalRequests"]} == {
        iso(hour): count for hour, count in per_hour.items()
    }
    daily = (await gql.data(SERIES, {**variables, "g": "DAY"}))["usageSeries"]
    assert sum(p["totalRequests"] for p in daily) == len(traffic.records)

    by_key = (await gql.data(BREAKDOWN, {**variables, "by": ["API_KEY"]}))["usageBreakdown"]
    assert {r["group"]["apiKeyId"]: r["totalRequests"] for r in by_key} == Counter(
        r.key_id for r in traffic.records
    )
    by_route = (await gql.data(BREAKDOWN, {**variables, "by": ["ROUTE"]}))["usageBreakdown"]
    for row in by_route:
        mine = [r for r in traffic.records if r.route == row["group"]["route"]]
        assert row["totalRequests"] == len(mine)
        latencies = sorted(r.latency_ms for r in mine)
        true = latencies[int(0.95 * (len(latencies) - 1))]
        assert abs(row["p95LatencyMs"] - true) <= RELATIVE_ACCURACY * true + 0.001
    errors = await gql.data(
        """query($f: DateTime!, $t: DateTime!, $tenant: ID) { errorsByCode(from: $f, to: $t,
           tenantId: $tenant) { group { errorCode statusClass } errorRequests } }""",
        variables,
    )
    got = {
        (e["group"]["errorCode"], e["group"]["statusClass"]): e["errorRequests"]
        for e in errors["errorsByCode"]
    }
    assert got == Counter(
        (r.error_code, r.status // 100) for r in traffic.records if r.status >= 400
    )


async def test_late_events_are_rolled_up_once_even_with_two_workers(
    gql: GraphQL, traffic: Traffic
) -> None:
    now = datetime.now(UTC)
    late = generate(
        traffic.tenant_id,
        traffic.key_ids,
        now - timedelta(hours=30),
        now - timedelta(hours=29),
        120,
        9,
    )
    await write(late)  # a journal replay, hours after these minutes were rolled up
    await asyncio.gather(JOB.run(), JOB.run(), RollupJob(minute_retention=timedelta(days=2)).run())
    await roll_up(JOB)
    await write(late)  # the same events again: ignored by id
    await roll_up(JOB)
    await JOB.run()  # a re-run changes nothing
    start, end = now - timedelta(days=3), now + timedelta(minutes=1)
    data = await gql.data(USAGE, {"f": iso(start), "t": iso(end), "tenant": traffic.tenant_id})
    everything = traffic.records + late
    assert data["usage"]["totalRequests"] == len(everything)
    day = await gql.data(
        SERIES, {"f": iso(start), "t": iso(end), "tenant": traffic.tenant_id, "g": "DAY"}
    )
    assert sum(p["totalRequests"] for p in day["usageSeries"]) == len(everything)


async def test_request_log_pages_newest_first(gql: GraphQL, traffic: Traffic) -> None:
    query = """query($tenant: ID, $key: ID, $after: String) { requestLogs(tenantId: $tenant,
      apiKeyId: $key, first: 50, after: $after) { totalCount edges { node { at apiKeyId status } }
      pageInfo { hasNextPage endCursor } } }"""
    key = traffic.key_ids[1]
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await gql.data(query, {"tenant": traffic.tenant_id, "key": key, "after": after}))[
            "requestLogs"
        ]
        seen.extend(e["node"] for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    mine = [r for r in traffic.records if r.key_id == key]
    assert len(seen) == len(mine) == page["totalCount"]
    assert [s["at"] for s in seen] == sorted((s["at"] for s in seen), reverse=True)


async def test_usage_is_tenant_scoped_and_validated(gql: GraphQL, traffic: Traffic) -> None:
    other = await gql.create_tenant("other")
    viewer = gql.token(Role.VIEWER, other)
    now = datetime.now(UTC)
    window = {"f": iso(now - timedelta(days=1)), "t": iso(now)}
    assert (
        await gql.error_code(USAGE, {**window, "tenant": traffic.tenant_id}, token=viewer)
        == "FORBIDDEN"
    )
    own = await gql.data(USAGE, window, token=viewer)
    assert own["usage"]["totalRequests"] == 0
    decade = {
        "f": iso(now - timedelta(days=3650)),
        "t": iso(now),
        "tenant": traffic.tenant_id,
        "g": "MINUTE",
    }
    assert await gql.error_code(SERIES, decade) == "BAD_USER_INPUT"
    backwards = {"f": iso(now), "t": iso(now - timedelta(hours=1))}
    assert await gql.error_code(USAGE, backwards) == "BAD_USER_INPUT"


async def test_rates_divide_by_the_elapsed_part_of_the_range(gql: GraphQL) -> None:
    from tests.metering.traffic import usage_record

    tenant = await gql.create_tenant("rates")
    now = datetime.now(UTC).replace(microsecond=0)
    await write(
        [usage_record(tenant, None, now - timedelta(seconds=1 + i % 100)) for i in range(470)]
    )
    await roll_up(JOB)
    rate = """query($f: DateTime!, $t: DateTime!, $tenant: ID) {
      usage(from: $f, to: $t, tenantId: $tenant) { totalRequests requestsPerSecond } }"""
    start = now - timedelta(seconds=3600)
    answer = (await gql.data(rate, {"f": iso(start), "t": iso(now + timedelta(days=30)),
                                    "tenant": tenant}))["usage"]  # fmt: skip
    assert answer["totalRequests"] == 470
    elapsed = (datetime.now(UTC) - start).total_seconds()
    assert answer["requestsPerSecond"] == pytest.approx(470 / elapsed, rel=0.01)
    future = await gql.data(
        rate,
        {"f": iso(now + timedelta(days=1)), "t": iso(now + timedelta(days=2)), "tenant": tenant},
    )
    assert future["usage"]["requestsPerSecond"] == 0.0


async def test_a_keys_usage_field_matches_usage_by_key(gql: GraphQL, traffic: Traffic) -> None:
    key = traffic.key_ids[0]
    start = datetime.now(UTC) - timedelta(days=3) + timedelta(hours=27, minutes=13, seconds=7)
    window = {"f": iso(start), "t": iso(datetime.now(UTC) - timedelta(hours=5))}
    by_key = (await gql.data(USAGE, {**window, "key": key}))["usage"]
    field = """query($id: ID!, $f: DateTime!, $t: DateTime!) { apiKey(id: $id) {
      usage(from: $f, to: $t) { totalRequests errorRequests rejectedRequests p95LatencyMs } } }"""
    on_key = (await gql.data(field, {"id": key, **window}))["apiKey"]["usage"]
    assert on_key == {k: by_key[k] for k in on_key}


async def test_breakdowns_name_what_they_group(gql: GraphQL, traffic: Traffic) -> None:
    named = """query($f: DateTime!, $t: DateTime!, $tenant: ID) {
      usageBreakdown(from: $f, to: $t, tenantId: $tenant, groupBy: [TENANT, API_KEY], first: 10) {
        group { tenantId tenantName apiKeyId apiKeyName } totalRequests } }"""
    window = {"f": iso(datetime.now(UTC) - timedelta(days=3)), "t": iso(datetime.now(UTC))}
    rows = (await gql.data(named, {**window, "tenant": traffic.tenant_id}))["usageBreakdown"]
    tenant = (await gql.data("query($id: ID!) { tenant(id: $id) { name } }",
                             {"id": traffic.tenant_id}))["tenant"]["name"]  # fmt: skip
    keys = "query($id: ID!) { apiKey(id: $id) { name } }"
    assert {r["group"]["apiKeyId"] for r in rows} == set(traffic.key_ids)
    for row in rows:
        assert row["group"]["tenantName"] == tenant
        name = (await gql.data(keys, {"id": row["group"]["apiKeyId"]}))["apiKey"]["name"]
        assert row["group"]["apiKeyName"] == name


async def test_a_request_log_filter_outside_http_statuses_is_refused(gql: GraphQL) -> None:
    query = "query($s: Int) { requestLogs(status: $s) { totalCount } }"
    for status in (-5120392, 0, 99, 600, 32768):
        body = await gql.post(query, {"s": status})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
        assert "status must be an HTTP status" in body["errors"][0]["message"]
    assert (await gql.data(query, {"s": 404}))["requestLogs"]["totalCount"] >= 0
