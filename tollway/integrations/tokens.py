"""OAuth2 tokens of integrations kept fresh: renewed before they expire, once however many
calls and instances need them at the same moment (an in-process lock, then a lease on the
stored row), failures backed off exponentially and, after `give_up_after_seconds` of them or
at once for an error asking again cannot mend, the integration set AUTH_FAILED (with its
alert and event) until a renewal succeeds or it is authorized anew."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from typing import NamedTuple
from uuid import UUID

from tollway.clock import SYSTEM_CLOCK, Clock
from tollway.integrations.credentials import OAuth2ClientCredentials
from tollway.integrations.grants import DEFAULT_RENEWAL, AuthUnavailable, Granted, RenewalPolicy
from tollway.integrations.oauth import OAuth2Shape, TokenEndpoint, TokenRequestFailed, TokenSet
from tollway.integrations.status import LiveChange, LiveKind, StatusTransitions
from tollway.integrations.token_rows import TokenRows
from tollway.keyring.vault import Vault
from tollway.models import Integration, IntegrationStatus, IntegrationToken, OAuthState

WAIT_STEP = 0.05
"""Seconds between looks at the row while another instance renews."""


class _Cached(NamedTuple):
    version: datetime
    """The integration's `updated_at` the token was obtained under."""
    granted: Granted


class TokenKeeper:
    """Access tokens for OAuth2 integrations, cached per process, renewed when due."""

    def __init__(
        self,
        vault: Vault,
        endpoint: TokenEndpoint,
        *,
        transitions: StatusTransitions,
        policy: RenewalPolicy = DEFAULT_RENEWAL,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.endpoint = endpoint
        self.policy = policy
        self._rows = TokenRows(vault, policy=policy)
        self._transitions = transitions
        self._clock = clock
        self._cache: dict[UUID, _Cached] = {}
        self._locks: defaultdict[UUID, asyncio.Lock] = defaultdict(asyncio.Lock)

    def now(self) -> datetime:
        """The keeper's clock as a UTC datetime."""
        return datetime.fromtimestamp(self._clock.millis() / 1000, UTC)

    async def access_token(
        self, integration: Integration, shape: OAuth2Shape, *, stale: str | None = None
    ) -> Granted:
        """A token to call with; `stale`: the one the provider just refused (renewed unless
        another renewal replaced it meanwhile). AuthUnavailable when there is none."""
        cached = self._cached(integration, stale=stale)
        if cached is not None:
            return cached
        async with self._locks[integration.id]:
            cached = self._cached(integration, stale=stale)  # renewed while this call waited
            if cached is not None:
                return cached
            granted = await self._obtain(integration, shape, stale=stale)
        self._cache[integration.id] = _Cached(integration.updated_at, granted)
        return granted

    def _cached(self, integration: Integration, *, stale: str | None) -> Granted | None:
        """The cached token, if it is of the integration as loaded and still fresh."""
        cached = self._cache.get(integration.id)
        if cached is None or cached.version != integration.updated_at:
            return None
        return cached.granted if cached.granted.fresh(self.now(), stale=stale) else None

    async def store(self, integration: Integration, tokens: TokenSet) -> IntegrationToken:
        """Keep tokens granted by the authorization code flow (replacing any before)."""
        row = await IntegrationToken.get_or_none(integration_id=integration.id)
        before = row.state if row is not None else OAuthState.PENDING
        stored = await self._rows.store(integration, tokens, now=self.now())
        await self._after_success(integration, before, "authorized")
        return stored

    async def stored(self, integration_id: UUID) -> IntegrationToken | None:
        """The integration's token row (for showing its state; tokens stay sealed)."""
        return await IntegrationToken.get_or_none(integration_id=integration_id)

    async def aclose(self) -> None:
        """Close the token endpoint's client."""
        await self.endpoint.aclose()

    async def _obtain(
        self, integration: Integration, shape: OAuth2Shape, *, stale: str | None
    ) -> Granted:
        deadline = self._clock.monotonic() + self.policy.lease_seconds
        while True:
            row = await IntegrationToken.get_or_none(integration_id=integration.id)
            now = self.now()
            stored = await self._rows.opened(integration, row)
            current = None if row is None or stored is None else self._rows.granted(row, stored)
            if current is not None and current.fresh(now, stale=stale):
                return current
            kept = self._without_renewing(integration, shape, row, current, now=now, stale=stale)
            if kept is not None:
                return kept
            if row is None:
                row = await self._rows.create(integration)
            if await self._rows.claim(row, now=now):
                return await self._renew(integration, shape, row, stored, stale=stale)
            if current is not None and current.usable(now, stale=stale):
                return current  # another instance is renewing: the old token still works
            if self._clock.monotonic() > deadline:
                raise AuthUnavailable(integration.name, "another instance is renewing tokens")
            await self._clock.sleep(WAIT_STEP)

    @staticmethod
    def _without_renewing(
        integration: Integration, shape: OAuth2Shape, row: IntegrationToken | None,
        current: Granted | None, *, now: datetime, stale: str | None,
    ) -> Granted | None:  # fmt: skip
        """The token to use without renewing now, or None to renew; AuthUnavailable when
        renewing may not be tried now and no token still works."""
        backing_off = row is not None and row.retry_at is not None and now < row.retry_at
        gave_up = row is not None and row.state is OAuthState.FAILED and row.retry_at is None
        if current is not None and current.usable(now, stale=stale) and (backing_off or gave_up):
            return current
        if (row is None or row.tokens is None) and not isinstance(shape, OAuth2ClientCredentials):
            raise AuthUnavailable(
                integration.name, "not authorized yet (startIntegrationAuthorization)"
            )
        if row is not None and gave_up:
            raise AuthUnavailable(
                integration.name, f"{row.last_error}; authorize it again or replace credentials"
            )
        if row is not None and row.retry_at is not None and backing_off:
            wait = int((row.retry_at - now).total_seconds() * 1000)
            raise AuthUnavailable(
                integration.name, f"renewing failed ({row.last_error}); retrying in {wait} ms",
                retry_after_ms=wait,
            )  # fmt: skip
        return None

    async def _renew(
        self, integration: Integration, shape: OAuth2Shape, row: IntegrationToken,
        stored: TokenSet | None, *, stale: str | None,
    ) -> Granted:  # fmt: skip
        before = row.state
        current = None if stored is None else self._rows.granted(row, stored)
        try:
            refresh = stored.refresh_token if stored is not None else None
            if isinstance(shape, OAuth2ClientCredentials):
                tokens = await self.endpoint.client_credentials(shape)
            elif refresh is None:
                raise TokenRequestFailed("the provider granted no refresh token", permanent=True)
            else:
                tokens = await self.endpoint.refresh(shape, refresh)
        except TokenRequestFailed as exc:
            failed = await self._rows.failed(row, exc, now=self.now())
            await self._after_failure(integration, before, failed)
            if current is not None and current.usable(self.now(), stale=stale):
                return current
            raise AuthUnavailable(integration.name, str(exc)) from None
        granted = await self._rows.renewed(
            integration, row, tokens=tokens, previous=stored, now=self.now()
        )
        await self._after_success(integration, before, "tokens renewed")
        return granted

    async def _after_success(
        self, integration: Integration, before: OAuthState, reason: str
    ) -> None:
        if before is not OAuthState.CONNECTED:
            await self._publish(integration, before, OAuthState.CONNECTED, reason)
        if before is OAuthState.FAILED or integration.status is IntegrationStatus.AUTH_FAILED:
            await self._set_status(integration, IntegrationStatus.HEALTHY, reason=reason)

    async def _after_failure(
        self, integration: Integration, before: OAuthState, row: IntegrationToken
    ) -> None:
        reason = row.last_error or "renewing failed"
        if row.state is not before:
            await self._publish(integration, before, row.state, reason)
        if row.state is OAuthState.FAILED and before is not OAuthState.FAILED:
            await self._set_status(integration, IntegrationStatus.AUTH_FAILED, reason=reason)

    async def _set_status(
        self, integration: Integration, status: IntegrationStatus, *, reason: str
    ) -> None:
        """Move the integration's status (reloaded should another writer change it first)."""
        row: Integration | None = integration
        while row is not None and row.status is not status:
            counters = {"probe_failures": 0, "probe_successes": 0}
            if await self._transitions.apply(row, status, reason=reason, now=self.now(),
                                             also=counters):  # fmt: skip
                return
            row = await Integration.get_or_none(id=integration.id)

    async def _publish(
        self, integration: Integration, before: OAuthState, after: OAuthState, reason: str
    ) -> None:
        await self._transitions.publish(
            LiveChange(LiveKind.AUTH, integration.id, integration.tenant_id, integration.name,
                       before.value, after.value, reason, self.now())
        )  # fmt: skip
