"""Health probes of integrations: one on demand (`checkIntegration`), stored with its latency,
and the status it leads to, with hysteresis so that a flapping provider does not flap the
status: `down_after` failed probes in a row to go DOWN (AUTH_FAILED when the provider refused
the credentials), `up_after` passed ones to come back."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple
from uuid import UUID

import httpx

from tollway.auth.principal import WRITE_ROLES, Principal
from tollway.errors import Conflict, TollwayError
from tollway.integrations.breaker import CircuitOpen
from tollway.integrations.catalogue import provider
from tollway.integrations.client import IntegrationClients
from tollway.integrations.registry import owned_integration
from tollway.models import Integration, IntegrationCheck, IntegrationStatus

AUTH_REFUSED = frozenset({401, 403})
H, D, DOWN, AUTH = (
    IntegrationStatus.HEALTHY, IntegrationStatus.DEGRADED, IntegrationStatus.DOWN,
    IntegrationStatus.AUTH_FAILED,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """How many probes in a row change the status."""

    down_after: int = 3
    up_after: int = 2


class ProbeResult(NamedTuple):
    """One probe's answer."""

    ok: bool
    status_code: int | None
    latency_ms: float
    error: str | None = None

    @property
    def auth_refused(self) -> bool:
        """The provider refused the credentials."""
        return self.status_code in AUTH_REFUSED


def next_status(
    current: IntegrationStatus, result: ProbeResult, *, failures: int, successes: int,
    policy: HealthPolicy,
) -> IntegrationStatus:  # fmt: skip
    """The status after `result`, given the probes in a row before it (this one counted)."""
    if result.ok:
        if current is IntegrationStatus.UNKNOWN or current is H or successes >= policy.up_after:
            return H
        return current
    if failures >= policy.down_after:
        return AUTH if result.auth_refused else DOWN
    return D if current in (IntegrationStatus.UNKNOWN, H) else current


class IntegrationHealth:
    """Probing integrations and keeping their status."""

    def __init__(self, clients: IntegrationClients, policy: HealthPolicy = HealthPolicy()) -> None:
        self._clients = clients
        self._policy = policy

    async def check(self, principal: Principal, integration_id: UUID) -> IntegrationCheck:
        """Probe the integration now; store the check and the status it leads to."""
        principal.require_role(WRITE_ROLES, "check integrations")
        integration = await owned_integration(principal, integration_id)
        result = await self._probe(principal, integration)
        failures = 0 if result.ok else integration.probe_failures + 1
        successes = integration.probe_successes + 1 if result.ok else 0
        status = next_status(
            integration.status, result, failures=failures, successes=successes,
            policy=self._policy,
        )  # fmt: skip
        changed = status is not integration.status
        await Integration.filter(id=integration.id).update(
            probe_failures=failures, probe_successes=successes, status=status,
            **({"status_changed_at": datetime.now(UTC)} if changed else {}),
        )  # fmt: skip
        return await IntegrationCheck.create(
            integration_id=integration.id, tenant_id=integration.tenant_id, ok=result.ok,
            status_code=result.status_code, latency_ms=result.latency_ms,
            error=result.error, status_after=status,
        )  # fmt: skip

    async def _probe(self, principal: Principal, integration: Integration) -> ProbeResult:
        known = await provider(integration.provider)
        path = integration.config.get("probe_path") or known.probe_path
        if not isinstance(path, str) or not path.startswith("/"):
            raise Conflict(
                f"integration {integration.name!r} has no health probe: set config.probe_path "
                "or the provider's probePath"
            )
        expected = integration.config.get("probe_statuses") or known.probe_statuses or [200]
        client = await self._clients.client(principal, integration.id)
        started = time.perf_counter()
        try:
            answer = await client.request(
                known.probe_method, path, timeout=known.probe_timeout_seconds
            )
        except (httpx.HTTPError, CircuitOpen, TollwayError) as exc:
            elapsed = (time.perf_counter() - started) * 1000
            return ProbeResult(False, None, elapsed, str(exc)[:300] or type(exc).__name__)
        elapsed = (time.perf_counter() - started) * 1000
        ok = answer.status_code in expected
        return ProbeResult(
            ok, answer.status_code, elapsed, None if ok else f"HTTP {answer.status_code}"
        )
