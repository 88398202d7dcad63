"""Health, readiness and metrics endpoints."""

from __future__ import annotations

from tests.conftest import GraphQL, LiveServer
from tollway.auth.principal import Role

HEALTH = "{ health { status components { name status latencyMs detail } } }"


async def test_health_reports_every_component(gql: GraphQL, server: LiveServer) -> None:
    health = (await gql.data(HEALTH))["health"]
    assert health["status"] == "HEALTHY", health
    own = [c for c in health["components"] if not c["name"].startswith("integration:")]
    by_name = {c["name"]: c for c in own}  # then the integrations (tests/integrations)
    assert set(by_name) == {"database", "redis", "broadcaster", "worker"}
    assert all(c["status"] == "HEALTHY" and c["latencyMs"] >= 0 for c in by_name.values())
    expected_redis = "embedded" if server.settings.redis_url is None else "ok"
    assert by_name["redis"]["detail"] == expected_redis
    assert by_name["broadcaster"]["detail"] == (
        "memory" if server.settings.redis_url is None else "redis"
    )


async def test_viewer_may_read_health(gql: GraphQL) -> None:
    viewer = gql.token(Role.VIEWER, await gql.create_tenant())
    assert (await gql.data("{ health { status } }", token=viewer))["health"]["status"] == "HEALTHY"


async def test_health_needs_a_token(gql: GraphQL) -> None:
    assert await gql.error_code("{ health { status } }", token=None) == "UNAUTHENTICATED"


async def test_liveness_readiness_and_metrics(gql: GraphQL) -> None:
    assert (await gql.http.get("/healthz")).json() == {"status": "ok"}
    ready = await gql.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    await gql.data("{ me { role } }")
    metrics = await gql.http.get("/metrics")
    assert metrics.status_code == 200
    assert 'tollway_graphql_operations_total{operation_type="query",outcome="ok"}' in metrics.text
    assert 'tollway_component_up{component="database"} 1.0' in metrics.text
