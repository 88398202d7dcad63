"""The per-request GraphQL context: principal, services and fresh DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from tollway.auth.principal import Principal
from tollway.errors import TollwayError, Unauthenticated
from tollway.models import Plan, Tenant
from tollway.services import Services


@dataclass(slots=True)
class Loaders:
    """DataLoaders, new for every request so nothing is cached across principals."""

    tenant: DataLoader[UUID, Tenant | None]
    plan: DataLoader[UUID, Plan | None]
    key_name: DataLoader[UUID, str | None]
    """A key's name by id (for rows already scoped to the principal's tenant)."""


def make_loaders(services: Services) -> Loaders:
    """Fresh loaders for one request."""

    async def load_tenants(ids: list[UUID]) -> list[Tenant | None]:
        found = await services.tenants.by_ids(ids)
        return [found.get(i) for i in ids]

    async def load_plans(ids: list[UUID]) -> list[Plan | None]:
        found = await services.plans.by_ids(ids)
        return [found.get(i) for i in ids]

    async def load_key_names(ids: list[UUID]) -> list[str | None]:
        found = await services.keys.names_by_ids(ids)
        return [found.get(i) for i in ids]

    return Loaders(
        tenant=DataLoader(load_fn=load_tenants),
        plan=DataLoader(load_fn=load_plans),
        key_name=DataLoader(load_fn=load_key_names),
    )


@dataclass(slots=True)
class Context:
    """What every resolver receives as `info.context`."""

    services: Services
    loaders: Loaders
    principal_or_error: Principal | TollwayError
    connection_params: dict[str, Any] | None = None
    request: Any = field(default=None, repr=False)
    response: Any = field(default=None, repr=False)

    @property
    def principal(self) -> Principal:
        """The authenticated caller, or UNAUTHENTICATED."""
        if isinstance(self.principal_or_error, Principal):
            return self.principal_or_error
        raise self.principal_or_error

    def authenticate(self, authorization: str | None) -> None:
        """(Re)authenticate from an Authorization value; keeps the error for later fields."""
        try:
            self.principal_or_error = self.services.tokens.authenticate(authorization)
        except Unauthenticated as exc:
            self.principal_or_error = exc


Info = StrawberryInfo[Context, None]


async def tenant_name(info: Info, tenant_id: object) -> str | None:
    """A tenant's name by id through the request's loader (None without an id)."""
    if not tenant_id:
        return None
    tenant = await info.context.loaders.tenant.load(UUID(str(tenant_id)))
    return None if tenant is None else tenant.name


async def key_name(info: Info, key_id: object) -> str | None:
    """A key's name by id through the request's loader (None without an id)."""
    if not key_id:
        return None
    return await info.context.loaders.key_name.load(UUID(str(key_id)))
