"""Alert rules and detectors driven by generated traffic and a controllable clock: alerts open,
deduplicate, escalate, are acknowledged and resolve."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import GraphQL, LiveServer
from tests.keyhelpers import create_key
from tests.metering.traffic import roll_up, usage_record, write
from tollway.alerts.engine import AlertEngine, claim
from tollway.app import build_services
from tollway.auth.principal import Role
from tollway.metering.rollups import RollupJob
from tollway.models import Alert, ApiKey, AuditEntry, SecurityEvent

ALERTS = """query($f: AlertFilterInput) { alerts(filter: $f, first: 50) { totalCount
  edges { node { id kind subject severity status message occurrences tenantId keyId
                 acknowledgedBy acknowledgementNote resolvedBy value } } } }"""
CREATE_RULE = """mutation($i: CreateAlertRuleInput!) { createAlertRule(input: $i) {
  id tenantId metric scope threshold } }"""


@pytest.fixture
async def engine(server: LiveServer) -> AsyncIterator[AlertEngine]:
    services = build_services(server.settings)
    await services.bus.connect()
    try:
        yield services.alert_engine
    finally:
        await services.bus.disconnect()


async def alerts_of(gql: GraphQL, token: str, **flt: Any) -> list[dict[str, Any]]:
    data = await gql.data(ALERTS, {"f": flt}, token=token)
    return [e["node"] for e in data["alerts"]["edges"]]


async def test_rule_alert_opens_once_counts_and_resolves_after_cooldown(
    gql: GraphQL, engine: AlertEngine
) -> None:
    tenant = await gql.create_tenant("rules")
    admin = gql.token(Role.ADMIN, tenant)
    _, key = await create_key(gql, tenant)
    rule = (await gql.data(CREATE_RULE, {"i": {
        "name": "rejections", "metric": "REJECTIONS", "scope": "TENANT", "threshold": 5,
        "comparator": "GTE", "windowSeconds": 60, "cooldownSeconds": 30,
        "severity": "CRITICAL"}}, token=admin))["createAlertRule"]  # fmt: skip
    assert rule["tenantId"] == tenant
    now = datetime.now(UTC)
    await write([usage_record(tenant, key["id"], now - timedelta(seconds=s), status=429,
                         error_code="RATE_LIMIT_EXCEEDED") for s in range(1, 9)])  # fmt: skip

    await engine.evaluate(now)
    await engine.evaluate(now + timedelta(seconds=5))
    (alert,) = await alerts_of(gql, admin, kind="REJECTIONS")
    assert alert["status"] == "OPEN" and alert["severity"] == "CRITICAL"
    assert alert["occurrences"] == 1 and alert["value"] == 8.0  # one crossing, seen twice
    assert alert["subject"] == f"tenant:{tenant}" and alert["tenantId"] == tenant

    ack = """mutation($id: ID!, $n: String) { acknowledgeAlert(id: $id, note: $n) {
      status acknowledgedBy acknowledgementNote } }"""
    done = await gql.data(ack, {"id": alert["id"], "n": "looking"}, token=admin)
    assert done["acknowledgeAlert"]["status"] == "ACKNOWLEDGED"
    assert done["acknowledgeAlert"]["acknowledgementNote"] == "looking"
    assert await gql.error_code(ack, {"id": alert["id"]}, token=admin) == "CONFLICT"

    await engine.evaluate(now + timedelta(seconds=70))  # window passed: clear, cooling down
    (alert,) = await alerts_of(gql, admin, kind="REJECTIONS")
    assert alert["status"] == "ACKNOWLEDGED"
    await engine.evaluate(now + timedelta(seconds=101))  # clear for the 30 s cooldown
    (alert,) = await alerts_of(gql, admin, kind="REJECTIONS")
    assert alert["status"] == "RESOLVED" and alert["resolvedBy"] == "tollway (condition cleared)"

    other = gql.token(Role.VIEWER, await gql.create_tenant("other"))
    assert await alerts_of(gql, other, kind="REJECTIONS") == []
    query = "query($id: ID!) { alert(id: $id) { id } }"
    assert await gql.error_code(query, {"id": alert["id"]}, token=other) == "FORBIDDEN"
    summary = await gql.data("{ alertSummary { totalOpen resolvedLast24h } }", token=admin)
    assert summary["alertSummary"]["resolvedLast24h"] == 1


async def test_rule_input_is_validated(gql: GraphQL) -> None:
    tenant = await gql.create_tenant("badrules")
    admin = gql.token(Role.ADMIN, tenant)
    base = {"name": "x", "metric": "ERROR_RATE", "scope": "TENANT", "threshold": 5}
    cases = [
        {**base, "windowSeconds": 0},
        {**base, "threshold": -1},
        {**base, "threshold": 5000},
        {**base, "target": "GET /x"},
        {**base, "scope": "KEY", "target": "not-a-key"},
        {**base, "name": " "},
        {**base, "cooldownSeconds": -5},
    ]
    for case in cases:
        assert await gql.error_code(CREATE_RULE, {"i": case}, token=admin) == "BAD_USER_INPUT"
    viewer = gql.token(Role.VIEWER, tenant)
    assert await gql.error_code(CREATE_RULE, {"i": base}, token=viewer) == "FORBIDDEN"
    rules = await gql.data("{ alertRules { name builtin tenantId } }", token=admin)
    assert {r["name"] for r in rules["alertRules"] if r["builtin"]} >= {"High error rate"}
    builtin = next(r for r in (await gql.data("{ alertRules { id builtin } }"))["alertRules"]
                   if r["builtin"])  # fmt: skip
    update = "mutation($id: ID!) { updateAlertRule(id: $id, input: {enabled: false}) { id } }"
    assert await gql.error_code(update, {"id": builtin["id"]}, token=admin) == "FORBIDDEN"


async def test_security_detectors_and_auto_disable(gql: GraphQL, engine: AlertEngine) -> None:
    tenant = await gql.create_tenant("sec")
    admin = gql.token(Role.ADMIN, tenant)
    _, revoked = await create_key(gql, tenant, name="old")
    _, leaked = await create_key(gql, tenant, name="leaked")
    policy = await gql.data(
        """mutation($id: ID!) { updateTenant(id: $id, input: {autoDisableCompromisedKeys: true})
           { tenant { autoDisableCompromisedKeys } } }""",
        {"id": tenant}, token=admin,
    )  # fmt: skip
    assert policy["updateTenant"]["tenant"]["autoDisableCompromisedKeys"] is True
    now = datetime.now(UTC)
    attacker = f"203.0.113.{uuid.uuid4().int % 250}"
    await SecurityEvent.bulk_create(
        [SecurityEvent(id=uuid.uuid4(), at=now - timedelta(seconds=i), reason="API_KEY_INVALID",
                       method="GET", path="/", client_ip=attacker, risk_score=50)
         for i in range(25)]
        + [SecurityEvent(id=uuid.uuid4(), at=now - timedelta(seconds=i), reason="API_KEY_REVOKED",
                         method="GET", path="/", tenant_id=tenant, key_id=revoked["id"],
                         key_prefix=revoked["prefix"], risk_score=70) for i in range(3)]
    )  # fmt: skip
    # the leaked key: one usual network yesterday, then 12 new networks in ten minutes
    await write(
        [usage_record(tenant, leaked["id"], now - timedelta(hours=5), client_ip="192.0.2.10")]
        + [usage_record(tenant, leaked["id"], now - timedelta(minutes=2), client_ip=f"10.{n}.7.1")
           for n in range(12)]
    )  # fmt: skip
    await engine.evaluate(now)

    everything = await alerts_of(gql, gql.token(Role.SUPER_ADMIN))
    brute = [a for a in everything if a["subject"] == f"ip:{attacker}"]
    assert [(a["kind"], a["severity"], a["tenantId"]) for a in brute] == [
        ("CREDENTIAL_BRUTE_FORCE", "CRITICAL", None)
    ]
    mine = {a["kind"]: a for a in await alerts_of(gql, admin)}
    assert mine["REVOKED_KEY_USED"]["keyId"] == revoked["id"]
    assert mine["KEY_USED_FROM_MANY_NETWORKS"]["keyId"] == leaked["id"]
    assert mine["KEY_USED_FROM_MANY_NETWORKS"]["value"] == 12.0
    assert "disabled" in mine["KEY_USED_FROM_MANY_NETWORKS"]["message"]
    key = await ApiKey.get(id=leaked["id"])
    assert key.status.value == "DISABLED"
    audit = await AuditEntry.filter(target_id=leaked["id"], action="api_key.auto_disabled")
    assert len(audit) == 1 and audit[0].actor == "tollway-security"
    assert all(a["tenantId"] != tenant for a in brute)

    events = await gql.data(
        """query($t: ID) { securityEvents(filter: {tenantId: $t, minRisk: 60}) { totalCount
           edges { node { reason riskScore keyId } } }
           securitySummary(filter: {tenantId: $t}) { total byReason { value count } } }""",
        {"t": tenant}, token=admin,
    )  # fmt: skip
    assert events["securityEvents"]["totalCount"] == 3
    assert events["securitySummary"]["byReason"] == [{"value": "API_KEY_REVOKED", "count": 3}]


async def test_key_lifecycle_and_quota_detectors(gql: GraphQL, engine: AlertEngine) -> None:
    tenant = await gql.create_tenant("lifecycle")
    admin = gql.token(Role.ADMIN, tenant)
    soon = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    _, expiring = await create_key(gql, tenant, name="expiring", expiresAt=soon)
    _, stale = await create_key(gql, tenant, name="stale", rotationPeriodDays=30)
    await ApiKey.filter(id=stale["id"]).update(created_at=datetime.now(UTC) - timedelta(days=45))
    _, metered = await create_key(
        gql, tenant, name="metered", quota={"limit": 100, "period": "DAY"}
    )
    now = datetime.now(UTC)
    start = max(now.replace(hour=0, minute=0, second=0, microsecond=0), now - timedelta(hours=1))
    step = (now - start) / 200
    await write([usage_record(tenant, metered["id"], start + step * i) for i in range(85)]
                + [usage_record(tenant, metered["id"], start + step * i, status=429,
                           error_code="QUOTA_EXCEEDED") for i in range(85, 95)])  # fmt: skip
    await roll_up(RollupJob(minute_retention=timedelta(days=2)))  # hours already rolled up
    await engine.evaluate(now)
    mine = {a["kind"]: a for a in await alerts_of(gql, admin)}
    assert mine["KEY_EXPIRING"]["keyId"] == expiring["id"]
    assert mine["KEY_ROTATION_DUE"]["keyId"] == stale["id"]
    assert mine["QUOTA_THRESHOLD"]["severity"] == "WARNING"
    assert mine["QUOTA_THRESHOLD"]["value"] == 85.0  # refused requests consume nothing

    await write([usage_record(tenant, metered["id"], start + step * i) for i in range(95, 115)])
    await roll_up(RollupJob(minute_retention=timedelta(days=2)))
    await engine.evaluate(now + timedelta(seconds=1))
    (quota,) = await alerts_of(gql, admin, kind="QUOTA_THRESHOLD")
    assert quota["id"] == mine["QUOTA_THRESHOLD"]["id"]  # one alert, escalated
    assert quota["severity"] == "CRITICAL" and quota["occurrences"] == 2

    resolved = await gql.data(
        "mutation($id: ID!) { resolveAlert(id: $id, note: \"renewed\") { status resolvedBy } }",
        {"id": mine["KEY_EXPIRING"]["id"]}, token=admin,
    )  # fmt: skip
    assert resolved["resolveAlert"]["status"] == "RESOLVED"
    await engine.evaluate(now + timedelta(seconds=2))  # still expiring: a new alert opens
    expiring_alerts = await alerts_of(gql, admin, kind="KEY_EXPIRING")
    assert sorted(a["status"] for a in expiring_alerts) == ["OPEN", "RESOLVED"]


async def test_traffic_anomaly_needs_a_baseline_then_fires(
    gql: GraphQL, engine: AlertEngine
) -> None:
    tenant = await gql.create_tenant("anomaly")
    _, key = await create_key(gql, tenant)
    detector = next(d for d in engine.detectors if d.name == "anomaly.traffic")
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=4)
    base -= timedelta(minutes=base.minute % 5)
    interval = timedelta(minutes=5)
    records = []
    for i in range(24):  # two hours of 30 ± 3 requests per five minutes
        for j in range(30 + (i % 3) - 1):
            records.append(
                usage_record(tenant, key["id"], base + interval * i + timedelta(seconds=j))
            )
    for j in range(400):  # then a spike
        records.append(
            usage_record(tenant, key["id"], base + interval * 24 + timedelta(seconds=j / 2))
        )
    await write(records)
    await roll_up(RollupJob(minute_retention=timedelta(days=2)))

    def ours(found: list[Any]) -> list[Any]:
        return [c for c in found if c.key_id is not None and str(c.key_id) == key["id"]]

    early = await detector.run(base + interval * 3 + timedelta(seconds=10))
    assert ours(early) == []  # cold start: nothing judged yet
    for i in range(4, 25):
        assert ours(await detector.run(base + interval * i + timedelta(seconds=10))) == []
    (spike,) = ours(await detector.run(base + interval * 25 + timedelta(seconds=10)))
    assert spike.kind == "TRAFFIC_ANOMALY" and spike.value == 400.0
    again = ours(await detector.run(base + interval * 25 + timedelta(seconds=40)))
    assert [c.value for c in again] == [400.0]  # the same interval is judged the same way


async def test_each_tick_is_evaluated_once(engine: AlertEngine) -> None:
    tick = uuid.uuid4().int % 10**12
    now = datetime.now(UTC)
    results = [await claim("test-job", tick, holder=f"worker-{i}", now=now) for i in range(3)]
    assert results == [True, False, False]
    assert await Alert.filter(source="test-job").count() == 0


async def test_error_rate_anomaly_fires_against_the_keys_own_rate(
    gql: GraphQL, engine: AlertEngine
) -> None:
    tenant = await gql.create_tenant("errors")
    _, key = await create_key(gql, tenant)
    detector = next(d for d in engine.detectors if d.name == "anomaly.traffic")
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    base -= timedelta(minutes=base.minute % 5)
    interval = timedelta(minutes=5)
    records = []
    for i in range(25):  # 40 requests per interval; 1 failing, then 20 failing
        failing = 1 if i < 24 else 20
        for j in range(40):
            status = 502 if j < failing else 200
            at = base + interval * i + timedelta(seconds=j)
            records.append(usage_record(tenant, key["id"], at, status=status))
    await write(records)
    await roll_up(RollupJob(minute_retention=timedelta(days=2)))
    found: list[Any] = []
    for i in range(1, 26):
        found = [c for c in await detector.run(base + interval * i + timedelta(seconds=10))
                 if c.key_id is not None and str(c.key_id) == key["id"]]  # fmt: skip
        if i < 25:
            assert found == [], i
    (anomaly,) = found
    assert anomaly.kind == "ERROR_RATE_ANOMALY" and anomaly.value == 50.0


async def test_budget_infrastructure_and_cost_detectors(
    gql: GraphQL, engine: AlertEngine, server: LiveServer
) -> None:
    tenant = await gql.create_tenant("spend")
    service = f"svc-{uuid.uuid4().hex[:6]}"
    await gql.data(
        "mutation($i: CreateMeteredServiceInput!) { createMeteredService(input: $i) { name } }",
        {"i": {"name": service}},
    )
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    await gql.data(
        "mutation($i: CreatePriceRateInput!) { createPriceRate(input: $i) { id } }",
        {"i": {"service": service, "unitPrice": "1", "currency": "USD",
               "effectiveFrom": (today - timedelta(days=20)).date().isoformat()}},
    )  # fmt: skip
    budget = await gql.data(
        """mutation($i: CreateBudgetInput!) { createBudget(input: $i) { id } }""",
        {"i": {"name": "svc", "scope": "SERVICE", "service": service, "period": "MONTH",
               "amount": "100000", "currency": "USD"}},
    )  # fmt: skip
    # ten days of 10 units a day, then 100 units yesterday (and 90,000 today: past 80%)
    days = {today - timedelta(days=d): 10 for d in range(2, 12)}
    days[today - timedelta(days=1)] = 100
    records = [usage_record(tenant, None, day + timedelta(hours=1), service=service, units=units)
               for day, units in days.items()]  # fmt: skip
    moment = max(today, datetime.now(UTC) - timedelta(seconds=30))  # today, even at 00:00
    records.append(usage_record(tenant, None, moment, service=service, units=90_000))
    await write(records)
    await roll_up(RollupJob(minute_retention=timedelta(days=2)))

    cost = next(d for d in engine.detectors if d.name == "anomaly.cost")
    for d in range(10, 0, -1):  # one evaluation per day learns that day's baseline
        found = await cost.run(today - timedelta(days=d) + timedelta(hours=12))
        assert not [c for c in found if service in c.subject], d
    (spike,) = [c for c in await cost.run(datetime.now(UTC)) if service in c.subject]
    assert spike.kind == "COST_ANOMALY" and spike.value == 100.0

    budgets = next(d for d in engine.detectors if d.name == "budgets")
    mine = [c for c in await budgets.run(datetime.now(UTC))
            if c.subject == f"budget:{budget['createBudget']['id']}"]  # fmt: skip
    assert [(c.kind, c.severity.value, c.threshold) for c in mine] == [
        ("BUDGET_THRESHOLD", "WARNING", 80.0)
    ]

    broken = build_services(server.settings.model_copy(update={"redis_url": "redis://127.0.0.1:1"}))
    infra = next(d for d in broken.alert_engine.detectors if d.name == "infrastructure")
    found = {c.subject: c for c in await infra.run(datetime.now(UTC))}
    assert found["component:redis"].severity.value == "CRITICAL"
    assert "component:database" not in found


async def test_occurrences_count_crossings_not_evaluations(server: LiveServer) -> None:
    from tollway.alerts.lifecycle import Condition
    from tollway.models import Severity

    store = build_services(server.settings).alerts
    subject = f"test:{uuid.uuid4().hex}"
    condition = Condition(
        source="test.crossings", kind="TEST", subject=subject, severity=Severity.WARNING,
        message="over", tenant_id=None, cooldown_seconds=600,
    )  # fmt: skip
    now = datetime.now(UTC)
    for seconds in (0, 10, 20):  # one crossing, seen three times
        await store.apply([condition], {"test.crossings"}, now=now + timedelta(seconds=seconds))
    assert (await Alert.get(subject=subject)).occurrences == 1
    await store.apply([], {"test.crossings"}, now=now + timedelta(seconds=30))  # clears
    await store.apply([condition], {"test.crossings"}, now=now + timedelta(seconds=40))  # again
    critical = dataclasses.replace(condition, severity=Severity.CRITICAL)
    await store.apply([critical], {"test.crossings"}, now=now + timedelta(seconds=50))  # higher
    assert (await Alert.get(subject=subject)).occurrences == 3
