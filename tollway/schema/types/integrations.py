"""Integration and provider-catalogue types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from tollway.integrations.breaker import BreakerState, BreakerStatus
from tollway.integrations.health import Uptime
from tollway.integrations.status import LiveChange, LiveKind
from tollway.models import (
    CredentialType,
    IntegrationEnvironment,
    IntegrationStatus,
    IntegrationType,
)
from tollway.models import Integration as IntegrationModel
from tollway.models import IntegrationCheck as CheckModel
from tollway.models import IntegrationProvider as ProviderModel
from tollway.schema.context import Info
from tollway.schema.permissions import Allowed
from tollway.schema.types.oauth import IntegrationOAuth

OAUTH2_TYPES = frozenset(
    {CredentialType.OAUTH2_CLIENT_CREDENTIALS, CredentialType.OAUTH2_AUTHORIZATION_CODE}
)

strawberry.enum(IntegrationType)
strawberry.enum(CredentialType)
strawberry.enum(IntegrationStatus)
strawberry.enum(IntegrationEnvironment)


strawberry.enum(BreakerStatus)


@strawberry.type
class IntegrationBreaker:
    """Where an integration's circuit breaker stands."""

    status: BreakerStatus
    consecutive_failures: int
    window_requests: int
    window_failures: int
    open_until: datetime | None
    changed_at: datetime | None

    @classmethod
    def from_state(cls, state: BreakerState) -> IntegrationBreaker:
        """From the shared breaker state (times in epoch milliseconds)."""
        return cls(
            status=state.status,
            consecutive_failures=state.consecutive,
            window_requests=state.window_requests,
            window_failures=state.window_failures,
            open_until=_moment(state.open_until_ms) if state.status is BreakerStatus.OPEN else None,
            changed_at=_moment(state.changed_at_ms),
        )


def _moment(ms: int) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else None


@strawberry.type
class UptimeWindow:
    """Health probes passed out of those made over one window."""

    checks: int
    passed: int
    ratio: float | None = strawberry.field(description="Passed over made; null with no probe.")

    @classmethod
    def of(cls, uptime: Uptime) -> UptimeWindow:
        """From the counted window."""
        return cls(checks=uptime.checks, passed=uptime.passed, ratio=uptime.ratio)


@strawberry.type
class IntegrationUptime:
    """Uptime as the health probes saw it."""

    last_24_hours: UptimeWindow
    last_7_days: UptimeWindow


@strawberry.type
class Integration:
    """A third-party service a tenant depends on. Its credentials are never returned:
    `credentialHint` shows the last 4 characters of their secret."""

    id: strawberry.ID
    tenant_id: strawberry.ID
    name: str
    type: IntegrationType
    provider: str
    base_url: str
    environment: IntegrationEnvironment
    config: JSON
    enabled: bool
    credential_type: CredentialType | None
    credential_hint: str | None
    status: IntegrationStatus
    status_changed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @strawberry.field
    async def uptime(self, info: Info) -> IntegrationUptime:
        """Health probes passed over the last day and week."""
        health = info.context.services.integration_health
        day = await health.uptime(UUID(self.id), window=timedelta(hours=24))
        week = await health.uptime(UUID(self.id), window=timedelta(days=7))
        return IntegrationUptime(
            last_24_hours=UptimeWindow.of(day), last_7_days=UptimeWindow.of(week)
        )

    @strawberry.field(permission_classes=[Allowed])
    async def checks(self, info: Info, first: int = 20) -> list[IntegrationCheck]:
        """The latest health probes, newest first (at most 100)."""
        health = info.context.services.integration_health
        rows = await health.recent_checks(UUID(self.id), first=first)
        return [IntegrationCheck.from_model(r) for r in rows]

    @strawberry.field
    async def oauth(self, info: Info) -> IntegrationOAuth | None:
        """Where the OAuth2 tokens stand (null for other credential types)."""
        if self.credential_type not in OAUTH2_TYPES:
            return None
        keeper = info.context.services.integration_clients.keeper
        return IntegrationOAuth.from_model(await keeper.stored(UUID(self.id)))

    @strawberry.field
    async def breaker(self, info: Info) -> IntegrationBreaker:
        """The circuit breaker of calls through this integration, as every instance sees it."""
        clients = info.context.services.integration_clients
        state = await clients.breakers.read(str(self.id))
        return IntegrationBreaker.from_state(state)

    @classmethod
    def from_model(cls, i: IntegrationModel) -> Integration:
        """From the stored integration (never its credentials)."""
        return cls(
            id=strawberry.ID(str(i.id)), tenant_id=strawberry.ID(str(i.tenant_id)), name=i.name,
            type=i.type, provider=i.provider, base_url=i.base_url, environment=i.environment,
            config=cast(JSON, i.config), enabled=i.enabled, credential_type=i.credential_type,
            credential_hint=i.credential_hint, status=i.status,
            status_changed_at=i.status_changed_at, created_at=i.created_at,
            updated_at=i.updated_at,
        )  # fmt: skip


@strawberry.type
class IntegrationProvider:
    """A catalogue entry: defaults for integrations with this provider."""

    name: str
    display_name: str
    type: IntegrationType
    base_url: str | None
    auth_style: CredentialType | None
    api_key_header: str | None
    api_key_query: str | None
    probe_method: str
    probe_path: str | None
    probe_statuses: list[int]
    probe_timeout_seconds: float
    probe_interval_seconds: int
    built_in: bool

    @classmethod
    def from_model(cls, p: ProviderModel) -> IntegrationProvider:
        """From the stored catalogue entry."""
        return cls(
            name=p.name, display_name=p.display_name, type=p.type, base_url=p.base_url,
            auth_style=p.auth_style, api_key_header=p.api_key_header,
            api_key_query=p.api_key_query, probe_method=p.probe_method, probe_path=p.probe_path,
            probe_statuses=list(p.probe_statuses),
            probe_timeout_seconds=p.probe_timeout_seconds,
            probe_interval_seconds=p.probe_interval_seconds, built_in=p.built_in,
        )  # fmt: skip


@strawberry.input
class CredentialsInput:
    """Credentials of one type; `values` has that type's shape (docs/integrations.md)."""

    type: CredentialType
    values: JSON


@strawberry.input
class CreateIntegrationInput:
    """A new integration; `type` and `baseUrl` default to the provider's."""

    tenant_id: strawberry.ID
    name: str
    provider: str
    type: IntegrationType | None = None
    base_url: str | None = None
    environment: IntegrationEnvironment = IntegrationEnvironment.PRODUCTION
    config: JSON | None = None
    enabled: bool = True
    credentials: CredentialsInput | None = None


@strawberry.input
class UpdateIntegrationInput:
    """Fields to change; `credentials` replaces the stored ones."""

    name: str | None = strawberry.UNSET
    base_url: str | None = strawberry.UNSET
    environment: IntegrationEnvironment | None = strawberry.UNSET
    config: JSON | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
    credentials: CredentialsInput | None = strawberry.UNSET


@strawberry.input
class IntegrationFilterInput:
    """Filters of `integrations`, combined with AND."""

    tenant_id: strawberry.ID | None = None
    type: IntegrationType | None = None
    provider: str | None = None
    status: IntegrationStatus | None = None


@strawberry.input
class UpdateIntegrationProviderInput:
    """Catalogue fields to change."""

    base_url: str | None = strawberry.UNSET
    auth_style: CredentialType | None = strawberry.UNSET
    api_key_header: str | None = strawberry.UNSET
    api_key_query: str | None = strawberry.UNSET
    probe_method: str | None = strawberry.UNSET
    probe_path: str | None = strawberry.UNSET
    probe_statuses: list[int] | None = strawberry.UNSET
    probe_timeout_seconds: float | None = strawberry.UNSET
    probe_interval_seconds: int | None = strawberry.UNSET


@strawberry.type
class IntegrationCheck:
    """One health probe and the status it led to."""

    id: strawberry.ID
    integration_id: strawberry.ID
    at: datetime
    ok: bool
    status_code: int | None
    latency_ms: float
    error: str | None
    status_after: IntegrationStatus

    @classmethod
    def from_model(cls, c: CheckModel) -> IntegrationCheck:
        """From the stored check."""
        return cls(
            id=strawberry.ID(str(c.id)), integration_id=strawberry.ID(str(c.integration_id)),
            at=c.at, ok=c.ok, status_code=c.status_code, latency_ms=c.latency_ms, error=c.error,
            status_after=c.status_after,
        )  # fmt: skip


strawberry.enum(LiveKind, name="IntegrationChangeKind")


@strawberry.type
class IntegrationStatusChange:
    """A change of an integration's health (`IntegrationStatus` values), circuit breaker
    (`BreakerStatus`) or OAuth2 tokens (`OAuthState`), as `previous` and `current`."""

    kind: LiveKind
    integration_id: strawberry.ID
    tenant_id: strawberry.ID
    name: str
    previous: str
    current: str
    reason: str
    at: datetime

    @classmethod
    def of(cls, change: LiveChange) -> IntegrationStatusChange:
        """From the published change."""
        return cls(
            kind=change.kind, integration_id=strawberry.ID(str(change.integration_id)),
            tenant_id=strawberry.ID(str(change.tenant_id)), name=change.name,
            previous=change.previous, current=change.current, reason=change.reason,
            at=change.at,
        )  # fmt: skip
