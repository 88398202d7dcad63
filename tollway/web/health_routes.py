"""Plain HTTP endpoints: /healthz (liveness), /readyz (readiness), /metrics (Prometheus)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tollway.health.checks import HealthChecker, HealthStatus
from tollway.health.metrics import COMPONENT_UP


async def healthz(_: Request) -> Response:
    """Alive: the process answers. Never touches a dependency."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready: the database and the configured Redis answer; 503 otherwise."""
    checker: HealthChecker = request.app.state.services.health
    components = await checker.ready()
    ready = all(c.status is HealthStatus.HEALTHY for c in components)
    for c in components:
        COMPONENT_UP.labels(c.name).set(1 if c.status is HealthStatus.HEALTHY else 0)
    body = {
        "status": "ready" if ready else "unavailable",
        "components": {c.name: {"status": c.status.value, "detail": c.detail} for c in components},
    }
    return JSONResponse(body, status_code=200 if ready else 503)


async def metrics(_: Request) -> Response:
    """Prometheus text exposition."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
