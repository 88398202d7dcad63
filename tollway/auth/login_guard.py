"""Failed admin logins, limited per client address so that guessing tokens gets nowhere.

Each bearer token that does not authenticate counts against its client address in a fixed
window of the shared rate-limit storage (Redis when configured, so every instance counts
together). Once an address has failed `limit` times in the window, its requests that carry
credentials are refused at once (429 with Retry-After), before any token is checked, until
the window ends. Every failure and refusal is a security event (`ADMIN_AUTH_FAILED`) for the
brute-force detector.
"""

from __future__ import annotations

from tollway.ratelimit import Algorithm, Limiter, Window
from tollway.ratelimit.blocklist import Blocklist

WINDOW_SECONDS = 60
REASON = "ADMIN_AUTH_FAILED"


class AdminLoginGuard:
    """`limit` failed admin logins per address a minute; 0 turns the limit off."""

    def __init__(self, limiter: Limiter, limit: int) -> None:
        self.limit = limit
        self._limiter = limiter
        self._windows = (Window(limit, WINDOW_SECONDS, Algorithm.FIXED_WINDOW),) if limit else ()
        self._blocked = Blocklist(limiter.clock)

    def retry_after_ms(self, address: str | None) -> int | None:
        """How long `address` must wait before presenting credentials; None: it may."""
        return self._blocked.retry_after_ms(address)

    async def failed(self, address: str | None) -> int | None:
        """Count one failed login from `address`; the wait in ms once it is over the limit."""
        if address is None or not self._windows:
            return None
        now_ms = self._limiter.clock()
        decision = await self._limiter.hit(f"admin-auth:{address}", self._windows, quota=None)
        if decision.allowed:
            return None
        return self._blocked.refused(address, decision, now_ms=now_ms)
