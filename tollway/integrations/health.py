"""Health probes of integrations: one on demand (`checkIntegration`), stored with its latency,
and the status it leads to, with hysteresis so that a flapping provider does not flap the
status: `down_after` failed probes in a row to go DOWN (AUTH_FAILED when the provider refused
the credentials), `up_after` passed ones to come back. The worker probes each integration at
its interval (`run_due`), whichever instance claims it first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from uuid import UUID

import httpx
from tortoise.expressions import Q
from tortoise.functions import Count

from tollway.auth.principal import WORKER, WRITE_ROLES, Principal
from tollway.errors import BadUserInput, Conflict, TollwayError
from tollway.integrations.client import PAST_THE_BREAKER, IntegrationClients
from tollway.integrations.grants import AuthUnavailable
from tollway.integrations.probes import Probe, probe_of
from tollway.integrations.registry import owned_integration
from tollway.integrations.status import StatusTransitions
from tollway.models import (
    Integration,
    IntegrationCheck,
    IntegrationProvider,
    IntegrationStatus,
)
from tollway.signals import Pace

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
    no_token: bool = False
    """No OAuth2 token could be had to probe with."""

    @property
    def auth_refused(self) -> bool:
        """The provider refused the credentials, or none could be had."""
        return self.no_token or self.status_code in AUTH_REFUSED

    @property
    def reason(self) -> str:
        """What the probe found, in a few words."""
        if self.ok:
            return f"probe passed (HTTP {self.status_code})"
        return self.error or f"HTTP {self.status_code}"


class Uptime(NamedTuple):
    """Probes passed out of those made over a window."""

    checks: int
    passed: int

    @property
    def ratio(self) -> float | None:
        """Passed over made; None with no probe in the window."""
        return self.passed / self.checks if self.checks else None


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


MAX_CHECKS = 100
DUE_BATCH = 20
"""Integrations probed at once per run; a full batch runs again straight away."""


class IntegrationHealth:
    """Probing integrations and keeping their status."""

    def __init__(
        self,
        clients: IntegrationClients,
        transitions: StatusTransitions,
        *,
        policy: HealthPolicy = HealthPolicy(),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._clients = clients
        self._transitions = transitions
        self._policy = policy
        self._now = now

    async def check(self, principal: Principal, integration_id: UUID) -> IntegrationCheck:
        """Probe the integration now; store the check and the status it leads to."""
        principal.require_role(WRITE_ROLES, "check integrations")
        integration = await owned_integration(principal, integration_id)
        if not integration.enabled:
            raise Conflict(f"integration {integration.name!r} is disabled")
        known = await IntegrationProvider.get(name=integration.provider)
        probe = probe_of(integration, known)
        if probe.path is None:
            raise Conflict(
                f"integration {integration.name!r} has no health probe: set config.probe_path "
                "or the provider's probePath"
            )
        result = await self._probe(principal, integration, probe)
        check = await self._record(integration, result)
        if check is None:
            raise Conflict(f"integration {integration.name!r} was deleted during its probe")
        return check

    async def run_due(self) -> Pace:
        """Probe every enabled integration whose probe is due (the worker's job). IDLE when
        there is nothing to probe at all, until the configuration changes."""
        now = self._now()
        due = (
            await Integration.filter(enabled=True)
            .filter(Q(next_probe_at__isnull=True) | Q(next_probe_at__lte=now))
            .order_by("next_probe_at")
            .limit(DUE_BATCH)
        )
        if not due:
            return Pace.BUSY if await Integration.filter(enabled=True).exists() else Pace.IDLE
        providers = {p.name: p for p in await IntegrationProvider.all()}
        probes = [(row, probe_of(row, providers[row.provider])) for row in due]
        claimed = [(row, probe) for row, probe in probes if await _claim(row, probe, now)]
        await asyncio.gather(
            *(self._probe_and_record(row, probe) for row, probe in claimed if probe.path)
        )
        return Pace.BUSY

    async def uptime(self, integration_id: UUID, *, window: timedelta) -> Uptime:
        """Probes passed out of those made over the last `window`."""
        rows = (
            await IntegrationCheck.filter(
                integration_id=integration_id, at__gte=self._now() - window
            )
            .group_by("ok")
            .annotate(n=Count("id"))
            .values_list("ok", "n")
        )
        counts = {bool(ok): int(n) for ok, n in rows}
        return Uptime(counts.get(True, 0) + counts.get(False, 0), counts.get(True, 0))

    async def recent_checks(self, integration_id: UUID, *, first: int) -> list[IntegrationCheck]:
        """The latest `first` probes (1 to 100), newest first."""
        if not 1 <= first <= MAX_CHECKS:
            raise BadUserInput(f"first must be between 1 and {MAX_CHECKS}")
        return (
            await IntegrationCheck.filter(integration_id=integration_id)
            .order_by("-at")
            .limit(first)
        )

    async def _probe_and_record(self, integration: Integration, probe: Probe) -> None:
        result = await self._probe(WORKER, integration, probe)
        await self._record(integration, result)

    async def _record(self, row: Integration, result: ProbeResult) -> IntegrationCheck | None:
        """Count the probe and move the status, exactly once however many probe at once."""
        now = self._now()
        current: Integration | None = row
        while current is not None:
            failures = 0 if result.ok else current.probe_failures + 1
            successes = current.probe_successes + 1 if result.ok else 0
            status = next_status(
                current.status, result, failures=failures, successes=successes,
                policy=self._policy,
            )  # fmt: skip
            counted = await self._transitions.apply(
                current, status, reason=result.reason, now=now,
                expect={"probe_failures": current.probe_failures,
                        "probe_successes": current.probe_successes},
                also={"probe_failures": failures, "probe_successes": successes},
            )  # fmt: skip
            if counted:
                return await IntegrationCheck.create(
                    integration_id=current.id, tenant_id=current.tenant_id, at=now,
                    ok=result.ok, status_code=result.status_code,
                    latency_ms=result.latency_ms, error=result.error, status_after=status,
                )  # fmt: skip
            current = await Integration.get_or_none(id=row.id)
        return None

    async def _probe(
        self, principal: Principal, integration: Integration, probe: Probe
    ) -> ProbeResult:
        started = time.perf_counter()
        try:
            client = await self._clients.client(principal, integration.id)
            answer = await client.request(
                probe.method, probe.path or "/", timeout=probe.timeout_seconds,
                extensions={PAST_THE_BREAKER: True},
            )  # fmt: skip
        except (
            httpx.HTTPError,
            AuthUnavailable,
            TollwayError,
        ) as exc:  # probes go past the breaker
            elapsed = (time.perf_counter() - started) * 1000
            error = str(exc)[:300] or type(exc).__name__
            return ProbeResult(
                False, None, elapsed, error, no_token=isinstance(exc, AuthUnavailable)
            )
        elapsed = (time.perf_counter() - started) * 1000
        ok = answer.status_code in probe.statuses
        return ProbeResult(
            ok, answer.status_code, elapsed, None if ok else f"HTTP {answer.status_code}"
        )


async def _claim(row: Integration, probe: Probe, now: datetime) -> bool:
    """Move the row's next probe on; True for the one caller that moved it."""
    query = Integration.filter(id=row.id)
    if row.next_probe_at is None:
        query = query.filter(next_probe_at__isnull=True)
    else:
        query = query.filter(next_probe_at=row.next_probe_at)
    moved = await query.update(next_probe_at=now + timedelta(seconds=probe.interval_seconds))
    return moved == 1
