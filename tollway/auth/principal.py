"""Who is calling the admin API, and the one place tenant isolation is decided."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from tollway.errors import Forbidden


class Role(StrEnum):
    """Admin roles, as in CONTRACT.md."""

    SUPER_ADMIN = "SUPER_ADMIN"
    ADMIN = "ADMIN"
    VIEWER = "VIEWER"
    SERVICE = "SERVICE"


ALL_ROLES = frozenset(Role)
READ_ROLES = frozenset({Role.SUPER_ADMIN, Role.ADMIN, Role.VIEWER})
WRITE_ROLES = frozenset({Role.SUPER_ADMIN, Role.ADMIN})
SUPER_ADMIN_ONLY = frozenset({Role.SUPER_ADMIN})
KEY_READ_ROLES = READ_ROLES | {Role.SERVICE}
KEY_USE_ROLES = WRITE_ROLES | {Role.SERVICE}
"""Verify keys and record usage: what a SERVICE token is for."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a subject, a role and (unless SUPER_ADMIN) one tenant."""

    subject: str
    role: Role
    tenant_id: UUID | None = None
    token_id: str | None = None

    @property
    def is_super_admin(self) -> bool:
        """True for the role that sees every tenant."""
        return self.role is Role.SUPER_ADMIN

    def require_role(self, allowed: frozenset[Role], action: str) -> None:
        """Raise FORBIDDEN unless the principal's role is one of `allowed`."""
        if self.role not in allowed:
            raise Forbidden(f"role {self.role.value} may not {action}")

    def scope_tenant(self, requested: UUID | None) -> UUID | None:
        """The tenant a query may cover: `None` means every tenant (SUPER_ADMIN only).

        A tenant-bound principal gets its own tenant when it names none, and FORBIDDEN
        when it names another.
        """
        if self.is_super_admin:
            return requested
        if requested is not None and requested != self.tenant_id:
            raise Forbidden("this token may not access another tenant")
        return self.tenant_id

    def sees(self, tenant_id: UUID | None) -> bool:
        """True when an object of `tenant_id` (None: of no tenant) is visible to the principal."""
        return self.is_super_admin or (tenant_id is not None and tenant_id == self.tenant_id)

    def require_tenant(self, tenant_id: UUID) -> UUID:
        """Raise FORBIDDEN unless the principal may act within `tenant_id`."""
        scoped = self.scope_tenant(tenant_id)
        assert scoped is not None
        return scoped


WORKER = Principal(subject="tollway-worker", role=Role.SUPER_ADMIN)
"""Who the background jobs (budgets, alert evaluation, detectors) read every tenant's data as."""
