"""What an OAuth2 integration calls with (a granted token) and the policy renewing it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class RenewalPolicy:
    """When tokens are renewed, and how failures are backed off."""

    margin_seconds: float = 60.0
    """Renew this long before expiry (at most a quarter of the token's lifetime)."""
    first_retry_seconds: float = 5.0
    max_retry_seconds: float = 600.0
    give_up_after_seconds: float = 900.0
    """Failing this long makes the integration AUTH_FAILED."""
    lease_seconds: float = 30.0
    """How long one instance's claim to renew lasts (past the token endpoint's timeout)."""

    def retry_after(self, failures: int) -> timedelta:
        """The cooldown after `failures` failed renewals in a row."""
        seconds = self.first_retry_seconds * 2 ** min(failures - 1, 30)
        return timedelta(seconds=min(self.max_retry_seconds, seconds))

    def renew_at(self, obtained: datetime | None, expires: datetime | None) -> datetime | None:
        """When tokens obtained at `obtained` and expiring at `expires` are due; None for
        tokens without a lifetime (renewed only when the provider refuses them)."""
        if expires is None:
            return None
        lifetime = (expires - obtained).total_seconds() if obtained else self.margin_seconds * 4
        return expires - timedelta(seconds=min(self.margin_seconds, max(0.0, lifetime) / 4))


DEFAULT_RENEWAL = RenewalPolicy()


class AuthUnavailable(Exception):
    """No usable token: the integration is not authorized yet, or renewing is failing."""

    code = "INTEGRATION_AUTH_FAILED"

    def __init__(self, name: str, detail: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(f"integration {name!r} cannot authenticate: {detail}")
        self.retry_after_ms = retry_after_ms


class Granted(NamedTuple):
    """A usable access token."""

    access_token: str
    token_type: str
    renew_at: datetime | None
    expires_at: datetime | None

    @property
    def authorization(self) -> str:
        """The `Authorization` header value."""
        kind = "Bearer" if self.token_type.lower() == "bearer" else self.token_type
        return f"{kind} {self.access_token}"

    def usable(self, now: datetime, *, stale: str | None) -> bool:
        """Not refused by the provider and not yet expired."""
        live = self.expires_at is None or now < self.expires_at
        return live and self.access_token != stale

    def fresh(self, now: datetime, *, stale: str | None) -> bool:
        """Usable and not yet due for renewal."""
        due = self.renew_at is not None and now >= self.renew_at
        return self.usable(now, stale=stale) and not due
