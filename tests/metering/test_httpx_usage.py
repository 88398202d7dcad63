"""The httpx helper reports a client's outbound calls through `recordUsage`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import GraphQL, LiveServer
from tests.metering.test_record_usage import new_service
from tollway.auth.principal import Role
from tollway.metering.httpx_usage import UsageReporterClient, meter


async def test_outbound_calls_become_usage(gql: GraphQL, server: LiveServer) -> None:
    tenant = await gql.create_tenant("outbound")
    service = await new_service(gql)
    token = gql.token(Role.SERVICE, tenant)
    reporter = UsageReporterClient(server.base_url, token, interval=0.05)
    async with meter(
        httpx.AsyncClient(base_url=server.base_url), service, reporter=reporter,
        units=lambda request, response: len(response.json()["status"]),
    ) as upstream:  # fmt: skip
        statuses = [(await upstream.get("/healthz")).status_code for _ in range(3)]
    await reporter.aclose()
    assert statuses == [200, 200, 200] and reporter.dropped == 0
    usage = await gql.data(
        """query($f: DateTime!, $t: DateTime!, $s: String) { usage(from: $f, to: $t,
           filter: {service: $s}) { totalRequests units p50LatencyMs } }""",
        {"f": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
         "t": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(), "s": service},
        token=gql.token(Role.VIEWER, tenant),  # SERVICE records usage; reading is not its job
    )  # fmt: skip
    assert usage["usage"]["totalRequests"] == 3
    assert usage["usage"]["units"] == 3 * len("ok")
    assert usage["usage"]["p50LatencyMs"] > 0
