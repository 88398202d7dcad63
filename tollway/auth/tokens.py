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
from tollway.settings import Settings

ALGORITHM = "HS256"
BOOTSTRAP_SUBJECT = "bootstrap-admin"
_TTL_PATTERN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DEFAULT_MAX_LIFETIME = timedelta(days=30)
NUMERIC_DATES = ("exp", "iat", "nbf")


def parse_ttl(text: str, maximum: timedelta = DEFAULT_MAX_LIFETIME) -> timedelta:
    """Parse `90s`, `15m`, `1h`, `7d` or `2w` into a timedelta (at most `maximum`)."""
    match = _TTL_PATTERN.match(text)
    if not match:
        raise BadUserInput(f"bad TTL {text!r}: use a number and a unit, e.g. 30m, 1h, 7d")
    ttl = timedelta(seconds=int(match.group(1)) * _TTL_UNITS[match.group(2)])
    if not timedelta(0) < ttl <= maximum:
        days = maximum.total_seconds() / 86400
        raise BadUserInput(
            f"bad TTL {text!r}: must be above zero and at most {days:g}d "
            "(TOLLWAY_ADMIN_TOKEN_MAX_DAYS)"
        )
    return ttl


class TokenAuthority:
    """Issues and verifies admin bearer tokens."""

    def __init__(
        self,
        signing_key: str,
        issuer: str,
        *,
        audience: str,
        bootstrap: str | None,
        max_lifetime: timedelta = DEFAULT_MAX_LIFETIME,
    ) -> None:
        self._key = signing_key
        self._issuer = issuer
        self._audience = audience
        self._bootstrap = bootstrap.encode() if bootstrap else None
        self.max_lifetime = max_lifetime
        """No token living longer (from `iat` to `exp`) is issued or accepted."""

    def issue(
        self,
        role: Role,
        tenant_id: UUID | None,
        *,
        ttl: timedelta,
        subject: str = "cli",
        now: datetime | None = None,
    ) -> str:
        """A signed JWT for `role`; tenant-bound unless SUPER_ADMIN."""
        if role is Role.SUPER_ADMIN and tenant_id is not None:
            raise BadUserInput("a SUPER_ADMIN token is not bound to a tenant; omit the tenant")
        if role is not Role.SUPER_ADMIN and tenant_id is None:
            raise BadUserInput(f"a {role.value} token needs a tenant")
        if ttl > self.max_lifetime:
            raise BadUserInput(f"a token may live at most {self.max_lifetime}")
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
        dates = [claims.get(name) for name in NUMERIC_DATES if name in claims]
        if not all(isinstance(d, int | float) and not isinstance(d, bool) for d in dates):
            raise Unauthenticated("invalid token: exp, iat and nbf must be NumericDates")
        if claims["exp"] - claims["iat"] > self.max_lifetime.total_seconds():
            raise Unauthenticated(f"invalid token: it lives longer than {self.max_lifetime}")
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


def token_authority(settings: Settings, *, bootstrap: bool = True) -> TokenAuthority:
    """The authority the settings describe (without the bootstrap token for the CLI)."""
    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    return TokenAuthority(
        settings.signing_key(), settings.jwt_issuer, audience=settings.jwt_audience,
        bootstrap=token if bootstrap else None,
        max_lifetime=timedelta(days=settings.admin_token_max_days),
    )  # fmt: skip
