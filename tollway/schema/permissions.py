"""Strawberry permission classes. Role and tenant rules live on `Principal` and in services."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from tollway.auth.principal import WRITE_ROLES
from tollway.schema.context import Info


class IsAuthenticated(BasePermission):
    """Any valid admin token (raises UNAUTHENTICATED with the reason otherwise)."""

    message = "not authenticated"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        _ = info.context.principal
        return True


class CanWrite(BasePermission):
    """SUPER_ADMIN or ADMIN: VIEWER and SERVICE tokens are read-only (FORBIDDEN)."""

    message = "read-only token"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        info.context.principal.require_role(WRITE_ROLES, "change anything")
        return True
