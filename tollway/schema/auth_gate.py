"""The admin API's front door: a request carrying credentials is admitted with its principal,
or refused at once (401, or 429 once its address has failed too often), and every refusal is
a security event."""

from __future__ import annotations

from typing import NamedTuple

from tollway.auth.login_guard import REASON, AdminLoginGuard
from tollway.auth.principal import Principal
from tollway.auth.tokens import TokenAuthority
from tollway.clock import whole_seconds
from tollway.enforcement.activity import ActivityRecorder
from tollway.errors import ErrorCode, Unauthenticated
from tollway.tenants.service import require_live_tenant


class Refusal(NamedTuple):
    """Why credentials were not accepted, and how to answer."""

    status: int
    code: ErrorCode
    message: str
    retry_after_seconds: int | None = None


class Attempt(NamedTuple):
    """Who presented credentials, for the security event of a refusal."""

    client_ip: str | None
    method: str
    path: str
    user_agent: str | None


class AuthGate:
    """Tokens checked, failures limited per address and recorded."""

    def __init__(
        self, tokens: TokenAuthority, guard: AdminLoginGuard, *, activity: ActivityRecorder
    ) -> None:
        self.tokens = tokens
        self.guard = guard
        self.activity = activity

    async def admit(self, authorization: str, attempt: Attempt) -> Principal | Refusal:
        """The principal behind `authorization`, or the refusal to answer with."""
        wait = self.guard.retry_after_ms(attempt.client_ip)
        if wait is not None:
            self._record(attempt)
            return _throttled(wait)
        try:
            principal = self.tokens.authenticate(authorization)
            await require_live_tenant(principal)
        except Unauthenticated as exc:
            self._record(attempt)
            wait = await self.guard.failed(attempt.client_ip)
            if wait is not None:
                return _throttled(wait)
            return Refusal(401, ErrorCode.UNAUTHENTICATED, exc.message)
        return principal

    def _record(self, attempt: Attempt) -> None:
        self.activity.denied(
            REASON, method=attempt.method, path=attempt.path, client_ip=attempt.client_ip,
            user_agent=attempt.user_agent, key=None,
        )  # fmt: skip


def _throttled(wait_ms: int) -> Refusal:
    seconds = whole_seconds(wait_ms)
    return Refusal(
        429, ErrorCode.UNAUTHENTICATED,
        f"too many failed logins from this address; retry in {seconds} s", seconds,
    )  # fmt: skip
