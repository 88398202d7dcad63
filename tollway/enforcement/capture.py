"""What the middleware notes about one request for usage metering."""

from __future__ import annotations

import time

from tollway.asgi import Scope
from tollway.keys.records import KeyRecord
from tollway.metering.records import RawUsage

UNMATCHED_ROUTE = "(unmatched)"
MAX_PATH = 2000
MAX_AGENT = 300


class UsageCapture:
    """Collects status and sizes while the response is sent, then builds the usage record."""

    __slots__ = (
        "agent", "client_ip", "cost", "key", "method", "path", "recorded", "request_bytes",
        "response_bytes", "route", "started", "status",
    )  # fmt: skip

    def __init__(
        self,
        started: float,
        method: str,
        *,
        path: str,
        client_ip: str | None,
        agent: str | None,
        request_bytes: int,
        key: KeyRecord | None,
        route: str | None,
        cost: int,
    ) -> None:
        self.started = started
        self.method = method
        self.path = path
        self.client_ip = client_ip
        self.agent = agent
        self.request_bytes = request_bytes
        self.key = key
        self.route = route
        self.cost = cost
        self.status = 0
        self.response_bytes = 0
        self.recorded = False  # the usage event is in the writer's hands

    def record(
        self, scope: Scope, status: int, *, response_bytes: int, error_code: str | None = None
    ) -> RawUsage:
        """The usage event, once the response has been sent (a plain tuple: the writer
        makes the `UsageRecord` off the request path)."""
        key = self.key
        route = self.route or _app_route(scope)
        agent = self.agent
        # `RawUsage` order.
        return (
            time.time(), key.tenant_id if key else None, key.key_id if key else None,
            self.method, route, self.path[:MAX_PATH], status, error_code,
            (time.perf_counter() - self.started) * 1000, self.request_bytes, response_bytes,
            self.client_ip, agent[:MAX_AGENT] if agent else None,
            None,  # api_version
            self.cost,  # cost_units
            scope.get(SERVICE_KEY),  # set by an app calling another service (the proxy)
            self.cost,  # units: own-API usage is billed by route weight
            "requests",  # unit_type
            None,  # cost
        )  # fmt: skip


SERVICE_KEY = "tollway.service"
"""Where a downstream app names the service a request was for (the integration proxy does),
so that its usage and cost count against that service instead of the protected app."""


def _app_route(scope: Scope) -> str:
    """The downstream app's route template (Starlette puts the matched route in the scope),
    never the raw path, so routes stay few."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    return template if isinstance(template, str) and template else UNMATCHED_ROUTE
