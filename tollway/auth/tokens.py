"""Admin tokens: the bootstrap token and JWTs signed with TOLLWAY_SECRET_KEY (PyJWT, HS256)."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

import jwt

from tollway.auth.principal import Principal, Role
from tollway.errors import BadUserInput, Unauthenticated

ALGORITHM = "HS256"
BOOTSTRAP_SUBJECT = "bootstrap-admin"
_TTL_PATTERN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_TTL = timedelta(days=366)


def parse_ttl(text: str) -> timedelta:
    """Parse `90s`, `15m`, `1h`, `7d` or `2w` into a timedelta (at most a year)."""
    match = _TTL_PATTERN.match(text)
    if not match:
        raise BadUserInput(f"bad TTL {text!r}: use a number and a unit, e.g. 30m, 1h, 7d")
    ttl = timedelta(seconds=int(match.group(1)) * _TTL_UNITS[match.group(2)])
    if not timedelta(0) < ttl <= MAX_TTL:
        raise BadUserInput(f"bad TTL {text!r}: must be above zero and at most 366d")
    return ttl


class TokenAuthority:
    """Issues and verifies admin bearer tokens."""

    def __init__(self, signing_key: str, issuer: str, audience: str, bootstrap: str | None) -> None:
        self._key = signing_key
        self._issuer = issuer
        self._audience = audience
        self._bootstrap = bootstrap.encode() if bootstrap else None

    def issue(
        self,
        role: Role,
        tenant_id: UUID | None,
        ttl: timedelta,
        subject: str = "cli",
        now: datetime | None = None,
    ) -> str:
        """A signed JWT for `role`; tenant-bound unless SUPER_ADMIN."""
        if role is Role.SUPER_ADMIN and tenant_id is not None:
            raise BadUserInput("a SUPER_ADMIN token is not bound to a tenant; omit the tenant")
        if role is not Role.SUPER_ADMIN and tenant_id is None:
            raise BadUserInput(f"a {role.value} token needs a tenant")
        issued = now or datetime.now(UTC)
        claims: dict[str, object] = {
            "sub": subject,
            "role": role.value,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": int(issued.timestamp()),
            "exp": int((issued + ttl).timestamp()),
            "jti": secrets.token_hex(12),
        }
        if tenant_id is not None:
            claims["tid"] = str(tenant_id)
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal behind an `Authorization: Bearer ...` value, or UNAUTHENTICATED."""
        if not authorization:
            raise Unauthenticated("missing credentials: send Authorization: Bearer <token>")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("malformed Authorization header: expected 'Bearer <token>'")
        if self._bootstrap is not None and hmac.compare_digest(token.encode(), self._bootstrap):
            return Principal(subject=BOOTSTRAP_SUBJECT, role=Role.SUPER_ADMIN)
        return self._decode(token)

    def _decode(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "role", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("invalid token") from None
        try:
            role = Role(claims["role"])
            tenant_id = UUID(claims["tid"]) if claims.get("tid") else None
        except (ValueError, TypeError):
            raise Unauthenticated("invalid token") from None
        if (role is Role.SUPER_ADMIN) != (tenant_id is None):
            raise Unauthenticated("invalid token")
        return Principal(
            subject=str(claims["sub"]), role=role, tenant_id=tenant_id, token_id=claims.get("jti")
        )
