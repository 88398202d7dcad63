"""Status changes against a real local provider that goes down and comes back: an alert and
webhook events on the way down, the alert resolved on the way back, one alert per incident
however the provider flaps, and periodic probes claimed by one of two instances."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from tests.conftest import GraphQL
from tests.webhooks.receiver import Receiver, Reply, receiving
from tollway.app import build_services
from tollway.auth.principal import WORKER
from tollway.errors import BadUserInput
from tollway.integrations.health import DUE_BATCH, IntegrationHealth
from tollway.integrations.registry import IntegrationFields
from tollway.jobs import background_jobs, retention_policy
from tollway.metering.retention import RetentionJob
from tollway.models import (
    Alert,
    AlertStatus,
    Integration,
    IntegrationCheck,
    IntegrationStatus,
    Severity,
    WebhookEvent,
)
from tollway.services import Services
from tollway.signals import Pace
from tollway.webhooks.endpoints import EndpointFields


@pytest.fixture
async def provider() -> AsyncIterator[Receiver]:
    async with receiving() as receiver:
        yield receiver


async def watched(services: Services, gql: GraphQL, url: str, *, interval: int = 60) -> Integration:
    tenant = UUID(await gql.create_tenant())
    await services.webhook_endpoints.create(
        WORKER, tenant, new=EndpointFields(url="http://127.0.0.1:9/hook", event_types=["*"])
    )
    return await services.integrations.create(
        WORKER, tenant,
        new=IntegrationFields(
            name="payments", provider="custom", base_url=url,
            config={"probe_path": "/health", "probe_interval_seconds": interval},
        ),
    )  # fmt: skip


async def probe(services: Services, made: Integration, provider: Receiver, *codes: int) -> None:
    for code in codes:
        provider.default = Reply(code)
        await services.integration_health.check(WORKER, made.id)


async def events(made: Integration) -> list[str]:
    rows = await WebhookEvent.filter(tenant_id=made.tenant_id).order_by("created_at", "type")
    return [r.type for r in rows]


async def test_down_raises_an_alert_and_events_and_recovery_resolves_it(
    services: Services, gql: GraphQL, provider: Receiver
) -> None:
    made = await watched(services, gql, provider.url)
    await probe(services, made, provider, 200, 500, 500, 500)
    alert = await Alert.get(tenant_id=made.tenant_id)
    assert (alert.kind, alert.status, alert.severity) == (
        "INTEGRATION_DOWN", AlertStatus.OPEN, Severity.CRITICAL,
    )  # fmt: skip
    assert "payments" in alert.message and "HTTP 500" in alert.message
    down = await WebhookEvent.filter(tenant_id=made.tenant_id, type="integration.health_changed")
    assert [(e.data["previousStatus"], e.data["status"]) for e in down] == [
        ("UNKNOWN", "HEALTHY"), ("HEALTHY", "DEGRADED"), ("DEGRADED", "DOWN"),
    ]  # fmt: skip
    assert "alert.opened" in await events(made)

    await probe(services, made, provider, 200, 200)
    alert = await Alert.get(id=alert.id)
    assert alert.status is AlertStatus.RESOLVED and alert.resolved_by
    kinds = await events(made)
    assert kinds.count("integration.recovered") == 1 and "alert.resolved" in kinds
    recovered = await WebhookEvent.get(tenant_id=made.tenant_id, type="integration.recovered")
    assert recovered.data["previousStatus"] == "DOWN" and recovered.data["status"] == "HEALTHY"


async def test_a_flapping_provider_raises_one_alert_per_incident(
    services: Services, gql: GraphQL, provider: Receiver
) -> None:
    made = await watched(services, gql, provider.url)
    await probe(services, made, provider, *[500, 200] * 5)  # never down: no alert
    assert not await Alert.exists(tenant_id=made.tenant_id)
    await probe(services, made, provider, 500, 500, 500, *[200, 500] * 6)  # down, flapping
    assert await Alert.filter(tenant_id=made.tenant_id).count() == 1
    await probe(services, made, provider, 200, 200, 500, 500, 500)  # back, then a 2nd incident
    alerts = await Alert.filter(tenant_id=made.tenant_id).order_by("opened_at")
    assert [a.status for a in alerts] == [AlertStatus.RESOLVED, AlertStatus.OPEN]
    assert [a.occurrences for a in alerts] == [1, 1]


async def test_refused_credentials_send_auth_failed(
    services: Services, gql: GraphQL, provider: Receiver
) -> None:
    made = await watched(services, gql, provider.url)
    await probe(services, made, provider, 401, 401, 401)
    assert (await Integration.get(id=made.id)).status is IntegrationStatus.AUTH_FAILED
    assert "integration.auth_failed" in await events(made)
    assert (await Alert.get(tenant_id=made.tenant_id)).kind == "INTEGRATION_AUTH_FAILED"


class Moment:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


async def test_periodic_probes_are_claimed_by_one_of_two_instances(
    services: Services, gql: GraphQL, provider: Receiver
) -> None:
    made = await watched(services, gql, provider.url, interval=30)
    other = build_services(services.settings)
    clock = Moment()
    one = IntegrationHealth(services.integration_clients, services.integration_status, now=clock)
    two = IntegrationHealth(other.integration_clients, other.integration_status, now=clock)
    try:
        await Integration.exclude(id=made.id).update(enabled=False)
        assert await asyncio.gather(one.run_due(), two.run_due()) == [Pace.BUSY, Pace.BUSY]
        assert len(provider.received) == 1  # one probe, by whichever claimed it first
        await asyncio.gather(one.run_due(), two.run_due())
        assert len(provider.received) == 1  # not due again yet
        clock.at += timedelta(seconds=30)
        await asyncio.gather(one.run_due(), two.run_due())
        assert len(provider.received) == 2
        await Integration.filter(id=made.id).update(enabled=False)
        assert await one.run_due() is Pace.IDLE  # nothing to probe: wait for a change
    finally:
        await other.integration_clients.aclose()


async def test_uptime_over_a_day_and_a_week(
    services: Services, gql: GraphQL, provider: Receiver
) -> None:
    made = await watched(services, gql, provider.url)
    clock = Moment()
    health = IntegrationHealth(services.integration_clients, services.integration_status, now=clock)
    start = clock.at
    for age_hours, code in [(100, 500), (50, 500), (30, 200), (10, 200), (1, 500), (0, 200)]:
        clock.at = start - timedelta(hours=age_hours)
        provider.default = Reply(code)
        await health.check(WORKER, made.id)
    clock.at = start
    day = await health.uptime(made.id, window=timedelta(hours=24))
    week = await health.uptime(made.id, window=timedelta(days=7))
    assert (day.checks, day.passed, day.ratio) == (3, 2, 2 / 3)
    assert (week.checks, week.passed, week.ratio) == (6, 3, 0.5)
    nothing = await health.uptime(made.id, window=timedelta(minutes=-1))
    assert nothing.ratio is None
    assert await IntegrationCheck.filter(integration_id=made.id).count() == 6


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"probe_statuses": [200, 700]}, "config.probe_statuses[1]"),
        ({"probe_interval_seconds": 1}, "config.probe_interval_seconds"),
        ({"probe_method": "BREW"}, "config.probe_method"),
        ({"probe_pth": "/x"}, "config.probe_pth"),
        ({"probe_path": "health"}, "config.probe_path"),
    ],
)
async def test_bad_probe_config_is_a_coded_error(
    services: Services, gql: GraphQL, config: dict[str, object], named: str
) -> None:
    tenant = UUID(await gql.create_tenant())
    with pytest.raises(BadUserInput, match=named.replace("[", r"\[").replace("]", r"\]")):
        await services.integrations.create(
            WORKER, tenant,
            new=IntegrationFields(
                name="n", provider="custom", base_url="http://127.0.0.1:9", config=config
            ),
        )  # fmt: skip


UPTIME = """query($id: ID!, $n: Int!) { integration(id: $id) { status
  uptime { last24Hours { checks passed ratio } last7Days { checks } }
  checks(first: $n) { statusCode statusAfter } } }"""


async def test_uptime_and_checks_over_graphql(
    services: Services, gql: GraphQL, provider: Receiver
) -> None:
    made = await watched(services, gql, provider.url)
    await probe(services, made, provider, 200, 500, 200, 200)
    got = (await gql.data(UPTIME, {"id": str(made.id), "n": 2}))["integration"]
    assert got["uptime"]["last24Hours"] == {"checks": 4, "passed": 3, "ratio": 0.75}
    assert got["uptime"]["last7Days"] == {"checks": 4}
    assert got["checks"] == [  # newest first; two passes in a row to be healthy again
        {"statusCode": 200, "statusAfter": "HEALTHY"},
        {"statusCode": 200, "statusAfter": "DEGRADED"},
    ]
    assert await gql.error_code(UPTIME, {"id": str(made.id), "n": 0}) == "BAD_USER_INPUT"


async def test_probes_older_than_their_retention_are_deleted(
    services: Services, gql: GraphQL, provider: Receiver
) -> None:
    made = await watched(services, gql, provider.url)
    now = datetime.now(UTC)
    for age in (40, 40, 3):
        await IntegrationCheck.create(
            integration_id=made.id, tenant_id=made.tenant_id, at=now - timedelta(days=age),
            ok=True, status_code=200, latency_ms=1.0, status_after=IntegrationStatus.HEALTHY,
        )  # fmt: skip
    deleted = await RetentionJob(retention_policy(services.settings), batch_size=1).run()
    assert deleted["integration_checks"] >= 2
    kept = await IntegrationCheck.filter(integration_id=made.id).values_list("at", flat=True)
    assert [round((now - at).total_seconds() / 86400) for at in kept] == [3]


def test_the_worker_probes_unless_told_not_to(services: Services) -> None:
    def names(**overrides: object) -> set[str]:
        settings = services.settings.model_copy(update=overrides)
        return {job.name for job in background_jobs(settings, services)}

    assert "integration-probes" in names(integration_probes=True)
    assert "integration-probes" not in names(integration_probes=False)


async def test_every_due_integration_is_probed_once_above_the_batch_size(
    services: Services, gql: GraphQL, provider: Receiver
) -> None:
    tenant = UUID(await gql.create_tenant())
    await Integration.all().update(enabled=False)
    count = DUE_BATCH + 5
    made = []
    for i in range(count):
        fields = IntegrationFields(
            name=f"p{i}", provider="custom", base_url=f"{provider.url}/{i}",
            config={"probe_path": "/health"},
        )  # fmt: skip
        made.append(await services.integrations.create(WORKER, tenant, new=fields))
    other = build_services(services.settings)
    clock = Moment()
    one = IntegrationHealth(services.integration_clients, services.integration_status, now=clock)
    two = IntegrationHealth(other.integration_clients, other.integration_status, now=clock)
    try:
        for _ in range(3):  # more runs than needed: what was probed is not probed again
            await asyncio.gather(one.run_due(), two.run_due())
    finally:
        await other.integration_clients.aclose()
    assert len(provider.received) == count
    assert sorted(r.path for r in provider.received) == sorted(f"/{i}/health" for i in range(count))
    assert await IntegrationCheck.filter(integration_id__in=[m.id for m in made]).count() == count
