"""Tenants' data policies: set through GraphQL (audited, the environment as the default),
applied to every stored client address, and to how long requests and denials are kept."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import GraphQL, LiveServer
from tests.enforcement.conftest import CLIENT_IP, Protected
from tests.keyhelpers import create_key
from tollway.app import build_services
from tollway.auth.principal import Role
from tollway.enforcement.activity import ActivityRecorder
from tollway.jobs import retention_policy
from tollway.metering.retention import RetentionJob
from tollway.models import SecurityEvent, UsageEvent
from tollway.privacy import AddressPolicy

POLICY = """dataPolicy { anonymizeIps requestLogRetentionDays securityEventRetentionDays
  chosen { anonymizeIps requestLogRetentionDays securityEventRetentionDays } }"""
READ = "query($id: ID!) { tenant(id: $id) { " + POLICY + " } }"
SET = (
    "mutation($t: ID!, $i: DataPolicyInput!) { setTenantDataPolicy(tenantId: $t, input: $i)"
    " { tenant { " + POLICY + " } } }"
)
NETWORK = "203.0.113.0"  # CLIENT_IP's /24


def nothing_chosen() -> dict[str, Any]:
    return dict.fromkeys(
        ("anonymizeIps", "requestLogRetentionDays", "securityEventRetentionDays"), None
    )


async def choose(gql: GraphQL, tenant: str, token: str | None = None, **choices: Any) -> Any:
    kw = {"token": token} if token else {}
    data = await gql.data(SET, {"t": tenant, "i": choices}, **kw)
    return data["setTenantDataPolicy"]["tenant"]["dataPolicy"]


async def test_a_tenant_chooses_its_data_policy(gql: GraphQL, server: LiveServer) -> None:
    tenant = await gql.create_tenant("privacy")
    admin = gql.token(Role.ADMIN, tenant)
    settings = server.settings
    defaults = {
        "anonymizeIps": settings.usage_anonymize_ips,
        "requestLogRetentionDays": settings.usage_raw_retention_days,
        "securityEventRetentionDays": settings.security_event_retention_days,
    }
    policy = (await gql.data(READ, {"id": tenant}, token=admin))["tenant"]["dataPolicy"]
    assert policy == {**defaults, "chosen": nothing_chosen()}

    chosen = await choose(gql, tenant, admin, anonymizeIps=True, requestLogRetentionDays=7)
    assert chosen == {
        **defaults, "anonymizeIps": True, "requestLogRetentionDays": 7,
        "chosen": {**nothing_chosen(), "anonymizeIps": True, "requestLogRetentionDays": 7},
    }  # fmt: skip
    audit = """query($t: ID) { auditLog(filter: {tenantId: $t, action: "tenant.data_policy"}) {
      edges { node { actor changes } } } }"""
    entries = (await gql.data(audit, {"t": tenant}, token=admin))["auditLog"]["edges"]
    assert entries[0]["node"]["changes"] == {
        "anonymize_ips": {"from": None, "to": True},
        "request_log_retention_days": {"from": None, "to": 7},
    }
    # The whole policy is given each time: what is left out follows the deployment again.
    assert await choose(gql, tenant, admin) == {**defaults, "chosen": nothing_chosen()}


async def test_bad_data_policies_get_coded_errors(gql: GraphQL) -> None:
    tenant, other = await gql.create_tenant("privacy-bad"), await gql.create_tenant("privacy-o")
    for days in (0, -1, 3651):
        body = await gql.post(SET, {"t": tenant, "i": {"requestLogRetentionDays": days}})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "requestLogRetentionDays must be between 1 and 3650" in body["errors"][0]["message"]
    variables = {"t": tenant, "i": {"anonymizeIps": True}}
    viewer, foreign = gql.token(Role.VIEWER, tenant), gql.token(Role.ADMIN, other)
    assert await gql.error_code(SET, variables, token=viewer) == "FORBIDDEN"
    assert await gql.error_code(SET, variables, token=foreign) == "FORBIDDEN"
    unknown = {**variables, "t": str(uuid.uuid4())}
    assert await gql.error_code(SET, unknown) == "NOT_FOUND"


async def stored_addresses(key_id: str) -> tuple[list[str], list[str]]:
    usage = await UsageEvent.filter(key_id=key_id).values_list("client_ip", flat=True)
    security = await SecurityEvent.filter(key_id=key_id).values_list("client_ip", flat=True)
    return sorted(usage), sorted(security)


async def test_every_stored_address_follows_the_tenants_choice(
    gql: GraphQL, protected: Protected
) -> None:
    private, public = await gql.create_tenant("anon-yes"), await gql.create_tenant("anon-no")
    await choose(gql, private, anonymizeIps=True)
    allowed = {t: await create_key(gql, t) for t in (private, public)}
    fenced = {t: await create_key(gql, t, allowedIps=["10.0.0.0/8"]) for t in (private, public)}
    async with protected() as (client, middleware):
        runtime = middleware.runtime

        async def traffic() -> None:
            for secret, _ in allowed.values():
                assert (await client.get("/ok", headers={"X-API-Key": secret})).status_code == 200
            for secret, _ in fenced.values():
                assert (await client.get("/no", headers={"X-API-Key": secret})).status_code == 403
            await runtime.usage.flush()
            await runtime.activity.flush()

        await traffic()
        assert await stored_addresses(allowed[private][1]["id"]) == ([NETWORK], [])
        assert await stored_addresses(fenced[private][1]["id"]) == ([NETWORK], [NETWORK])
        assert await stored_addresses(allowed[public][1]["id"]) == ([CLIENT_IP], [])
        assert await stored_addresses(fenced[public][1]["id"]) == ([CLIENT_IP], [CLIENT_IP])
        # A change reaches the running middleware, whose cache held the old choice.
        await choose(gql, public, anonymizeIps=True)
        await asyncio.sleep(0.3)
        await traffic()
        both = sorted([CLIENT_IP, NETWORK])
        assert await stored_addresses(fenced[public][1]["id"]) == (both, both)


async def test_denials_and_the_alerts_made_of_them_keep_only_the_network(
    server: LiveServer,
) -> None:
    detector = next(
        d for d in build_services(server.settings).alert_engine.detectors
        if d.name == "security.brute_force"
    )  # fmt: skip
    recorder = ActivityRecorder(addresses=AddressPolicy(default=True))
    marker = f"/{uuid.uuid4().hex}"
    for _ in range(30):  # past the brute-force detector's threshold
        recorder.denied(
            "API_KEY_INVALID", method="GET", path=marker, client_ip="198.51.100.77",
            user_agent=None, key=None,
        )  # fmt: skip
    await recorder.flush()
    assert set(await SecurityEvent.filter(path=marker).values_list("client_ip", flat=True)) == {
        "198.51.100.0"
    }
    found = await detector.run(datetime.now(UTC) + timedelta(seconds=1))
    subjects = {c.subject for c in found}
    assert "ip:198.51.100.0" in subjects
    assert not any("198.51.100.77" in c.subject + c.message for c in found)


async def test_retention_follows_each_tenants_choice(gql: GraphQL, server: LiveServer) -> None:
    short, usual = await gql.create_tenant("keep-short"), await gql.create_tenant("keep-usual")
    await choose(gql, short, requestLogRetentionDays=1, securityEventRetentionDays=2)
    now = datetime.now(UTC)
    marker = uuid.uuid4().hex
    for tenant in (short, usual):
        for age in (3, 3, 40, 40, 40, 100, 100):  # days; several batches of the job's below
            at = now - timedelta(days=age)
            await UsageEvent.create(
                event_id=uuid.uuid4(), at=at, tenant_id=tenant, method="GET",
                route="/r", path=f"/{marker}", status=200, latency_ms=1.0,
            )  # fmt: skip
            await SecurityEvent.create(
                at=at, tenant_id=tenant, reason="IP_NOT_ALLOWED", path=f"/{marker}",
                method="GET", risk_score=10,
            )  # fmt: skip
    await RetentionJob(retention_policy(server.settings), batch_size=2).run()

    async def ages(model: Any, tenant: str) -> list[int]:
        rows = await model.filter(tenant_id=tenant, path=f"/{marker}").values_list("at", flat=True)
        return sorted(round((now - at).total_seconds() / 86400) for at in rows)

    # The deployment keeps the request log 30 days and security events 90.
    assert await ages(UsageEvent, short) == [] and await ages(UsageEvent, usual) == [3, 3]
    assert await ages(SecurityEvent, short) == []
    assert await ages(SecurityEvent, usual) == [3, 3, 40, 40, 40]
