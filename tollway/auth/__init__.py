"""Admin principals, roles, tenant scoping and admin tokens."""

from tollway.auth.principal import Principal, Role
from tollway.auth.tokens import TokenAuthority

__all__ = ["Principal", "Role", "TokenAuthority"]
