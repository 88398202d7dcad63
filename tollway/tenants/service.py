"""Tenants: creation, update and tenant-scoped reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from tollway.audit.service import AuditService
from tollway.auth.principal import READ_ROLES, WRITE_ROLES, Principal, Role
from tollway.errors import BadUserInput, Conflict, Forbidden, NotFound, Unauthenticated
from tollway.models import Tenant, TenantStatus
from tollway.pagination import Page, paginate

MAX_NAME_LENGTH = 120
MAX_METADATA_BYTES = 16_384


@dataclass(frozen=True, slots=True)
class TenantChanges:
    """Fields of `updateTenant`; None leaves a field as it is."""

    name: str | None = None
    status: TenantStatus | None = None
    metadata: dict[str, Any] | None = None
    auto_disable_compromised_keys: bool | None = None


def clean_name(name: str) -> str:
    """A trimmed tenant name, or BAD_USER_INPUT."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise BadUserInput("name must not be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise BadUserInput(f"name must be at most {MAX_NAME_LENGTH} characters")
    return cleaned


def clean_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata must be a JSON object of bounded size."""
    import json

    if not isinstance(metadata, dict):
        raise BadUserInput("metadata must be a JSON object")
    if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
        raise BadUserInput(f"metadata must be at most {MAX_METADATA_BYTES} bytes of JSON")
    return metadata


class TenantService:
    """Tenant reads and writes, each checked against the principal."""

    def __init__(self, audit: AuditService, max_page_size: int) -> None:
        self._audit = audit
        self._max_page_size = max_page_size

    async def create(
        self, principal: Principal, name: str, *, metadata: dict[str, Any] | None
    ) -> Tenant:
        """Only a SUPER_ADMIN creates tenants."""
        if principal.role is not Role.SUPER_ADMIN:
            raise Forbidden("only SUPER_ADMIN may create tenants")
        fields: dict[str, Any] = {
            "name": clean_name(name),
            "metadata": clean_metadata(metadata or {}),
        }
        try:
            async with in_transaction():
                tenant = await Tenant.create(**fields)
                entry = await self._audit.record(
                    principal,
                    "tenant.create",
                    target_type="tenant",
                    target_id=tenant.id,
                    tenant_id=tenant.id,
                    changes=fields,
                )
        except IntegrityError:
            raise Conflict(f"a tenant named {fields['name']!r} already exists") from None
        self._audit.announce(entry)
        return tenant

    async def update(
        self, principal: Principal, tenant_id: UUID, *, changes: TenantChanges
    ) -> Tenant:
        """SUPER_ADMIN anywhere, ADMIN within its own tenant."""
        principal.require_role(WRITE_ROLES, "update tenants")
        principal.require_tenant(tenant_id)
        if changes.status is not None and not principal.is_super_admin:
            raise Forbidden("only SUPER_ADMIN may change a tenant's status")
        fields: dict[str, Any] = {}
        if changes.name is not None:
            fields["name"] = clean_name(changes.name)
        if changes.status is not None:
            fields["status"] = changes.status
        if changes.metadata is not None:
            fields["metadata"] = clean_metadata(changes.metadata)
        if changes.auto_disable_compromised_keys is not None:
            fields["auto_disable_compromised_keys"] = changes.auto_disable_compromised_keys
        if not fields:
            raise BadUserInput("nothing to update: give at least one field")
        try:
            async with in_transaction():
                tenant = await Tenant.select_for_update().get_or_none(id=tenant_id)
                if tenant is None:
                    raise NotFound(f"tenant {tenant_id} not found")
                before = {name: getattr(tenant, name) for name in fields}
                tenant.update_from_dict(fields)
                await tenant.save(update_fields=[*fields, "updated_at"])
                entry = await self._audit.record(
                    principal,
                    "tenant.update",
                    target_type="tenant",
                    target_id=tenant.id,
                    tenant_id=tenant.id,
                    changes={
                        k: {"from": before[k], "to": v} for k, v in fields.items() if before[k] != v
                    },
                )
        except IntegrityError:
            raise Conflict(f"a tenant named {fields.get('name')!r} already exists") from None
        self._audit.announce(entry)
        return tenant

    async def get(self, principal: Principal, tenant_id: UUID) -> Tenant:
        """One tenant the principal may see."""
        principal.require_tenant(tenant_id)
        tenant = await Tenant.get_or_none(id=tenant_id)
        if tenant is None:
            raise NotFound(f"tenant {tenant_id} not found")
        return tenant

    async def list(
        self,
        principal: Principal,
        first: int | None,
        *,
        after: str | None,
        status: TenantStatus | None = None,
        name_contains: str | None = None,
    ) -> Page[Tenant]:
        """Every tenant for a SUPER_ADMIN; a tenant-bound principal sees only its own."""
        principal.require_role(READ_ROLES, "list tenants")
        query = Tenant.all()
        scope = principal.scope_tenant(None)
        if scope is not None:
            query = query.filter(id=scope)
        if status is not None:
            query = query.filter(status=status)
        if name_contains:
            query = query.filter(name__icontains=name_contains)
        return await paginate(
            query,
            first=first,
            after=after,
            sort_field="created_at",
            descending=False,
            max_page_size=self._max_page_size,
        )

    @staticmethod
    async def by_ids(ids: Iterable[UUID]) -> dict[UUID, Tenant]:
        """Batch load for DataLoaders (the caller has already scoped the ids)."""
        return {tenant.id: tenant for tenant in await Tenant.filter(id__in=list(ids))}


async def require_live_tenant(principal: Principal) -> None:
    """A tenant-bound token is good only while its tenant exists and is active."""
    if principal.tenant_id is None:
        return
    tenant = await Tenant.get_or_none(id=principal.tenant_id).only("id", "status")
    if tenant is None:
        raise Unauthenticated("invalid token: its tenant does not exist")
    if tenant.status is not TenantStatus.ACTIVE:
        raise Unauthenticated("invalid token: its tenant is disabled")
