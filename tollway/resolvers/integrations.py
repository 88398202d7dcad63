"""Integrations and the provider catalogue."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from strawberry.utils.str_converters import to_camel_case

from tollway.errors import BadUserInput
from tollway.integrations.registry import CredentialsInput as Credentials
from tollway.integrations.registry import IntegrationFields, IntegrationFilter
from tollway.schema.connections import Connection, to_connection
from tollway.schema.context import Info
from tollway.schema.ids import parse_id, parse_optional_id
from tollway.schema.permissions import Allowed
from tollway.schema.types.integrations import (
    CreateIntegrationInput,
    CredentialsInput,
    Integration,
    IntegrationCheck,
    IntegrationFilterInput,
    IntegrationProvider,
    IntegrationStatusChange,
    UpdateIntegrationInput,
    UpdateIntegrationProviderInput,
)
from tollway.schema.types.oauth import IntegrationAuthorizationStart

NOT_NULL_INTEGRATION = frozenset({"name", "base_url", "environment", "config", "enabled"})
NOT_NULL_PROVIDER = frozenset(
    {"probe_method", "probe_statuses", "probe_timeout_seconds", "probe_interval_seconds"}
)


def _credentials(given: CredentialsInput | None) -> Credentials | None:
    if given is None:
        return None
    if not isinstance(given.values, dict):
        raise BadUserInput("credentials.values must be a JSON object")
    return Credentials(type=given.type, values=given.values)


def _config(config: object) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise BadUserInput("config must be a JSON object")
    return config


def _changes(given: object, not_null: frozenset[str]) -> dict[str, Any]:
    """The fields given (UNSET ones left out), refusing null where a value is required."""
    changes = {k: v for k, v in vars(given).items() if v is not strawberry.UNSET}
    for name in sorted(not_null & {k for k, v in changes.items() if v is None}):
        raise BadUserInput(f"{to_camel_case(name)} cannot be null")
    return changes


@strawberry.type
class IntegrationQuery:
    """Reading integrations and the provider catalogue."""

    @strawberry.field(permission_classes=[Allowed])
    async def integrations(
        self,
        info: Info,
        filter: IntegrationFilterInput | None = None,
        *,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Integration]:
        """The tenant's integrations, oldest first."""
        f = filter or IntegrationFilterInput()
        flt = IntegrationFilter(
            tenant_id=parse_optional_id(f.tenant_id, "filter.tenantId"),
            type=f.type,
            provider=f.provider,
            status=f.status,
        )
        ctx = info.context
        page = await ctx.services.integrations.list(ctx.principal, flt, first=first, after=after)
        return to_connection(page, Integration.from_model)

    @strawberry.field(permission_classes=[Allowed])
    async def integration(self, info: Info, id: strawberry.ID) -> Integration:
        """One integration."""
        ctx = info.context
        row = await ctx.services.integrations.get(ctx.principal, parse_id(id))
        return Integration.from_model(row)

    @strawberry.field(permission_classes=[Allowed])
    async def integration_providers(self, info: Info) -> list[IntegrationProvider]:
        """The provider catalogue."""
        ctx = info.context
        rows = await ctx.services.providers.list(ctx.principal)
        return [IntegrationProvider.from_model(r) for r in rows]


@strawberry.type
class IntegrationMutation:
    """Managing integrations and the provider catalogue."""

    @strawberry.mutation(permission_classes=[Allowed])
    async def create_integration(self, info: Info, input: CreateIntegrationInput) -> Integration:
        """A new integration; its credentials are sealed and never returned."""
        fields = IntegrationFields(
            name=input.name, provider=input.provider, type=input.type, base_url=input.base_url,
            environment=input.environment, config=_config(input.config), enabled=input.enabled,
            credentials=_credentials(input.credentials),
        )  # fmt: skip
        ctx = info.context
        row = await ctx.services.integrations.create(
            ctx.principal, parse_id(input.tenant_id, "tenantId"), new=fields
        )
        return Integration.from_model(row)

    @strawberry.mutation(permission_classes=[Allowed])
    async def update_integration(
        self, info: Info, id: strawberry.ID, *, input: UpdateIntegrationInput
    ) -> Integration:
        """Change an integration; `credentials: null` removes them."""
        changes = _changes(input, NOT_NULL_INTEGRATION)
        if "credentials" in changes:
            changes["credentials"] = _credentials(changes["credentials"])
        ctx = info.context
        row = await ctx.services.integrations.update(ctx.principal, parse_id(id), changes=changes)
        return Integration.from_model(row)

    @strawberry.mutation(permission_classes=[Allowed])
    async def delete_integration(self, info: Info, id: strawberry.ID) -> Integration:
        """Remove an integration; its credentials are destroyed with their data key."""
        ctx = info.context
        row = await ctx.services.integrations.delete(ctx.principal, parse_id(id))
        return Integration.from_model(row)

    @strawberry.mutation(permission_classes=[Allowed])
    async def check_integration(self, info: Info, id: strawberry.ID) -> IntegrationCheck:
        """Probe the integration's health now (its provider's probe, or `config.probe_path`)."""
        ctx = info.context
        check = await ctx.services.integration_health.check(ctx.principal, parse_id(id))
        return IntegrationCheck.from_model(check)

    @strawberry.mutation(permission_classes=[Allowed])
    async def start_integration_authorization(
        self, info: Info, id: strawberry.ID, *, return_url: str | None = None
    ) -> IntegrationAuthorizationStart:
        """Start the OAuth2 authorization code flow (with PKCE) of an integration: send the
        user to the returned URL; Tollway's callback stores the tokens, then sends the user
        to `returnUrl` (if given)."""
        ctx = info.context
        start = await ctx.services.integration_authorizations.start(
            ctx.principal, parse_id(id), return_url=return_url
        )
        return IntegrationAuthorizationStart.of(start)

    @strawberry.mutation(permission_classes=[Allowed])
    async def update_integration_provider(
        self, info: Info, name: str, *, input: UpdateIntegrationProviderInput
    ) -> IntegrationProvider:
        """Edit a catalogue entry (SUPER_ADMIN)."""
        ctx = info.context
        row = await ctx.services.providers.update(
            ctx.principal, name, changes=_changes(input, NOT_NULL_PROVIDER)
        )
        return IntegrationProvider.from_model(row)


@strawberry.type
class IntegrationSubscription:
    """Live changes of integrations, from every instance."""

    @strawberry.subscription(permission_classes=[Allowed])
    async def integration_status(
        self,
        info: Info,
        tenant_id: strawberry.ID | None = None,
        *,
        integration_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[IntegrationStatusChange, None]:
        """Health, circuit breaker and OAuth2 changes as they happen, within the caller's
        tenant (or one integration)."""
        ctx = info.context
        async for change in ctx.services.integration_status.live(
            ctx.principal,
            tenant_id=parse_optional_id(tenant_id, "tenantId"),
            integration_id=parse_optional_id(integration_id, "integrationId"),
        ):
            yield IntegrationStatusChange.of(change)
