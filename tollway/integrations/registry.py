"""The integration registry: tenant-scoped CRUD, audited, with base and token URLs through the
SSRF guard webhooks use and credentials sealed on the keyring (never returned)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from tollway.audit.service import AuditService
from tollway.auth.principal import READ_ROLES, WRITE_ROLES, Principal
from tollway.errors import BadUserInput, Conflict, NotFound
from tollway.health.checks import ComponentHealth, HealthStatus
from tollway.integrations.catalogue import CUSTOM, provider
from tollway.integrations.credentials import (
    SHAPES,
    CredentialShape,
    check_credentials,
    hint,
    to_json,
)
from tollway.integrations.probes import check_probe_config
from tollway.keyring.envelope import Owner
from tollway.keyring.vault import Vault
from tollway.models import (
    CredentialType,
    Integration,
    IntegrationAuthorization,
    IntegrationEnvironment,
    IntegrationStatus,
    IntegrationToken,
    IntegrationType,
    Tenant,
)
from tollway.pagination import Page, paginate
from tollway.text import clean_text
from tollway.webhooks.guard import check_destination, clean_url

CREDENTIALS = "credentials"
"""The keyring field of an integration's credential values."""
MAX_CONFIG_BYTES = 16_384
URL_FIELDS = ("token_url", "authorize_url")
MAX_COMPONENTS = 200
"""Integrations listed by `health`, at most (`integrations` pages through them all)."""
COMPONENT_STATUS = {
    IntegrationStatus.UNKNOWN: HealthStatus.DEGRADED,
    IntegrationStatus.HEALTHY: HealthStatus.HEALTHY,
    IntegrationStatus.DEGRADED: HealthStatus.DEGRADED,
    IntegrationStatus.DOWN: HealthStatus.UNHEALTHY,
    IntegrationStatus.AUTH_FAILED: HealthStatus.UNHEALTHY,
}


@dataclass(frozen=True, slots=True)
class CredentialsInput:
    """Credentials as given: their type and values (checked against the type's shape)."""

    type: CredentialType
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IntegrationFields:
    """A new integration; `type` and `base_url` default to the provider's."""

    name: str
    provider: str
    type: IntegrationType | None = None
    base_url: str | None = None
    environment: IntegrationEnvironment = IntegrationEnvironment.PRODUCTION
    config: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    credentials: CredentialsInput | None = None


@dataclass(frozen=True, slots=True)
class IntegrationFilter:
    """Filters of `integrations`."""

    tenant_id: UUID | None = None
    type: IntegrationType | None = None
    provider: str | None = None
    status: IntegrationStatus | None = None


def credential_owner(integration_id: UUID, tenant_id: UUID) -> Owner:
    """The keyring owner of an integration's credentials."""
    return Owner("integration", integration_id, tenant_id)


async def open_credentials(
    vault: Vault, integration: Integration, *, purpose: str
) -> CredentialShape | None:
    """The integration's credentials, opened from the keyring (None when it has none)."""
    if integration.credentials is None or integration.credential_type is None:
        return None
    plain = await vault.open(
        credential_owner(integration.id, integration.tenant_id),
        CREDENTIALS,
        sealed=integration.credentials,
        purpose=purpose,
    )
    return SHAPES[integration.credential_type].model_validate(json.loads(plain))


def _config(config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise BadUserInput("config must be a JSON object")
    if len(json.dumps(config)) > MAX_CONFIG_BYTES:
        raise BadUserInput(f"config must be at most {MAX_CONFIG_BYTES} bytes of JSON")
    check_probe_config(config)
    return config


class IntegrationService:
    """Integration reads and writes, each checked against the principal's role and tenant."""

    def __init__(
        self, audit: AuditService, vault: Vault, *, allow_private: bool, max_page_size: int
    ) -> None:
        self._audit = audit
        self._vault = vault
        self._allow_private = allow_private
        self._max_page_size = max_page_size

    async def _url(self, url: str, what: str) -> str:
        try:
            cleaned = clean_url(url)
            await check_destination(cleaned, self._allow_private)
        except BadUserInput as exc:
            raise BadUserInput(f"{what}: {str(exc).removeprefix('url: ')}") from None
        return cleaned

    async def _sealed(self, owner: Owner, given: CredentialsInput) -> dict[str, Any]:
        """The credential columns for `given`: checked, URLs guarded, sealed."""
        shape = check_credentials(given.type, given.values)
        for name in URL_FIELDS:
            if (url := getattr(shape, name, None)) is not None:
                await self._url(url, f"credentials.values.{name}")
        sealed = await self._vault.seal(owner, CREDENTIALS, plaintext=to_json(shape))
        return {
            "credential_type": given.type,
            "credentials": sealed,
            "credential_hint": hint(shape),
        }

    async def create(
        self, principal: Principal, tenant_id: UUID, *, new: IntegrationFields
    ) -> Integration:
        """A new integration of `tenant_id`."""
        principal.require_role(WRITE_ROLES, "create integrations")
        principal.require_tenant(tenant_id)
        known = await provider(new.provider)
        if new.type is not None and known.name != CUSTOM and new.type != known.type:
            raise BadUserInput(f"type: {known.display_name} is a {known.type.value} provider")
        base_url = new.base_url or known.base_url
        if base_url is None:
            raise BadUserInput("baseUrl: a custom integration needs one")
        values: dict[str, Any] = {
            "name": clean_text(new.name, "name", maximum=120),
            "provider": known.name,
            "type": new.type or known.type,
            "base_url": await self._url(base_url, "baseUrl"),
            "environment": new.environment,
            "config": _config(new.config),
            "enabled": new.enabled,
        }
        if not await Tenant.exists(id=tenant_id):
            raise NotFound(f"tenant {tenant_id} not found")
        integration_id = uuid4()
        owner = credential_owner(integration_id, tenant_id)
        try:
            async with in_transaction():
                if new.credentials is not None:
                    values |= await self._sealed(owner, new.credentials)
                row = await Integration.create(id=integration_id, tenant_id=tenant_id, **values)
                entry = await self._record(principal, "integration.create", row, values)
        except IntegrityError:
            raise _duplicate_name(values) from None
        self._audit.announce(entry)
        return row

    async def update(
        self, principal: Principal, integration_id: UUID, *, changes: dict[str, Any]
    ) -> Integration:
        """Change an integration; `credentials` replaces them (sealed again)."""
        principal.require_role(WRITE_ROLES, "update integrations")
        values: dict[str, Any] = {}
        if "name" in changes:
            values["name"] = clean_text(changes["name"], "name", maximum=120)
        if "base_url" in changes:
            values["base_url"] = await self._url(changes["base_url"], "baseUrl")
        if "config" in changes:
            values["config"] = _config(changes["config"])
        for simple in ("environment", "enabled"):
            if simple in changes:
                values[simple] = changes[simple]
        try:
            async with in_transaction():
                row = await owned_integration(principal, integration_id)
                if changes.get("credentials") is not None:
                    owner = credential_owner(row.id, row.tenant_id)
                    values |= await self._sealed(owner, changes["credentials"])
                elif "credentials" in changes:  # null: remove them
                    values |= dict.fromkeys(("credential_type", "credentials", "credential_hint"))
                if "credentials" in changes:  # tokens of the old credentials go with them
                    await _forget_oauth(row.id)
                row.update_from_dict(values)
                await row.save()
                entry = await self._record(principal, "integration.update", row, values)
        except IntegrityError:
            raise _duplicate_name(values) from None
        self._audit.announce(entry)
        return row

    async def delete(self, principal: Principal, integration_id: UUID) -> Integration:
        """Remove the integration and its data key (its credentials can no longer be opened)."""
        principal.require_role(WRITE_ROLES, "delete integrations")
        async with in_transaction():
            row = await owned_integration(principal, integration_id)
            entry = await self._record(principal, "integration.delete", row, {"name": row.name})
            await row.delete()
            await _forget_oauth(row.id)
            await self._vault.forget(credential_owner(row.id, row.tenant_id))
        self._audit.announce(entry)
        return row

    async def get(self, principal: Principal, integration_id: UUID) -> Integration:
        """One integration."""
        principal.require_role(READ_ROLES, "read integrations")
        return await owned_integration(principal, integration_id)

    async def list(
        self, principal: Principal, flt: IntegrationFilter, *, first: int | None, after: str | None
    ) -> Page[Integration]:
        """Oldest first, within the caller's tenant (every tenant for SUPER_ADMIN)."""
        principal.require_role(READ_ROLES, "read integrations")
        query = Integration.all()
        scope = principal.scope_tenant(flt.tenant_id)
        if scope is not None:
            query = query.filter(tenant_id=scope)
        if flt.type is not None:
            query = query.filter(type=flt.type)
        if flt.provider is not None:
            query = query.filter(provider=flt.provider.strip().lower())
        if flt.status is not None:
            query = query.filter(status=flt.status)
        return await paginate(
            query, first=first, after=after, sort_field="created_at", descending=False,
            max_page_size=self._max_page_size,
        )  # fmt: skip

    async def components(self, principal: Principal) -> Sequence[ComponentHealth]:
        """The integrations the principal may read, as `health` components (which never
        move Tollway's own status: a tenant's provider being down is not Tollway being down)."""
        if principal.role not in READ_ROLES:
            return []
        query = Integration.filter(enabled=True)
        scope = principal.scope_tenant(None)
        if scope is not None:
            query = query.filter(tenant_id=scope)
        rows = await query.order_by("tenant_id", "name").limit(MAX_COMPONENTS)
        return [
            ComponentHealth(
                name=f"integration:{row.name}",
                status=COMPONENT_STATUS[row.status],
                latency_ms=None,
                detail=f"{row.provider} {row.status.value.lower()}"
                + (f" since {row.status_changed_at.isoformat()}" if row.status_changed_at else ""),
            )
            for row in rows
        ]

    async def _record(
        self, principal: Principal, action: str, row: Integration, values: dict[str, Any]
    ) -> Any:
        shown = {k: v for k, v in values.items() if k != "credentials"}
        return await self._audit.record(
            principal,
            action,
            target_type="integration",
            target_id=row.id,
            tenant_id=row.tenant_id,
            changes=shown,
        )


async def _forget_oauth(integration_id: UUID) -> None:
    await IntegrationToken.filter(integration_id=integration_id).delete()
    await IntegrationAuthorization.filter(integration_id=integration_id).delete()


def _duplicate_name(values: dict[str, Any]) -> Conflict:
    return Conflict(f"the tenant already has an integration named {values.get('name')!r}")


async def owned_integration(principal: Principal, integration_id: UUID) -> Integration:
    """The integration, if the principal may see it (NOT_FOUND otherwise)."""
    row = await Integration.get_or_none(id=integration_id)
    if row is None or not principal.sees(row.tenant_id):
        raise NotFound(f"integration {integration_id} not found")
    return row
