"""Names next to ids, for rows that carry a tenant and a key id (breakdowns, cost lines)."""

from __future__ import annotations

import strawberry

from tollway.schema.context import Info, key_name, tenant_name


@strawberry.type
class NamesTenantAndKey:
    """Adds `tenantName` and `apiKeyName` to a type with `tenant_id` and `api_key_id`."""

    @strawberry.field
    async def tenant_name(self, info: Info) -> str | None:
        """The tenant's name, when grouped by tenant."""
        return await tenant_name(info, getattr(self, "tenant_id", None))

    @strawberry.field
    async def api_key_name(self, info: Info) -> str | None:
        """The key's name, when grouped by key."""
        return await key_name(info, getattr(self, "api_key_id", None))
