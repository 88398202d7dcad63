"""The stored side of OAuth2 tokens: sealed on the keyring, claimed for renewal by a lease,
and every write conditional on the version it read, so concurrent writers never interleave."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from tollway.integrations.grants import Granted, RenewalPolicy
from tollway.integrations.oauth import TokenRequestFailed, TokenSet
from tollway.integrations.registry import credential_owner
from tollway.keyring.vault import Vault
from tollway.models import Integration, IntegrationToken, OAuthState

TOKENS = "oauth_tokens"
"""The keyring field of an integration's OAuth2 tokens."""
HINT_MIN_LENGTH = 12


class TokenRows:
    """Reads and conditional writes of `integration_tokens`."""

    def __init__(self, vault: Vault, *, policy: RenewalPolicy) -> None:
        self._vault = vault
        self._policy = policy

    async def create(self, integration: Integration) -> IntegrationToken:
        """The integration's row, made PENDING if it has none."""
        try:
            return await IntegrationToken.create(
                integration_id=integration.id, tenant_id=integration.tenant_id
            )
        except IntegrityError:  # made meanwhile by another caller
            return await IntegrationToken.get(integration_id=integration.id)

    async def claim(self, row: IntegrationToken, *, now: datetime) -> bool:
        """Take the lease to renew, unless another holds it or the row moved on."""
        lease = now + timedelta(seconds=self._policy.lease_seconds)
        claimed = await (
            IntegrationToken.filter(integration_id=row.integration_id, version=row.version)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(lease_until=lease)
        )
        return claimed == 1

    def granted(self, row: IntegrationToken, tokens: TokenSet) -> Granted:
        """The access token of `tokens`, opened from `row`, with the row's lifetime."""
        renew_at = self._policy.renew_at(row.obtained_at, row.expires_at)
        return Granted(tokens.access_token, tokens.token_type, renew_at, row.expires_at)

    async def renewed(
        self, integration: Integration, row: IntegrationToken, *, tokens: TokenSet,
        previous: TokenSet | None, now: datetime,
    ) -> Granted:  # fmt: skip
        """Store renewed tokens (keeping the previous refresh token when the provider sent
        no new one); the token as stored, whoever wrote it last."""
        if tokens.refresh_token is None and previous is not None:
            tokens = tokens._replace(refresh_token=previous.refresh_token)
        values = await self._values(integration, tokens, now=now)
        values |= {"renewals": row.renewals + 1, "version": row.version + 1}
        written = await IntegrationToken.filter(
            integration_id=row.integration_id, version=row.version
        ).update(**values)
        stored = await IntegrationToken.get(integration_id=row.integration_id)
        if written != 1:  # another writer came first: theirs is what is stored
            theirs = await self.opened(integration, stored)
            assert theirs is not None
            tokens = theirs
        return self.granted(stored, tokens)

    async def failed(
        self, row: IntegrationToken, failure: TokenRequestFailed, *, now: datetime
    ) -> IntegrationToken:
        """Count a failed renewal: backed off, or FAILED once it has failed long enough (at
        once when asking again cannot help)."""
        failing_since = row.failing_since or now
        failed_for = (now - failing_since).total_seconds()
        give_up = failure.permanent or failed_for >= self._policy.give_up_after_seconds
        failures = row.failures + 1
        values: dict[str, Any] = {
            "failures": failures, "failing_since": failing_since,
            "retry_at": None if failure.permanent else now + self._policy.retry_after(failures),
            "last_error": str(failure)[:300],
            "state": OAuthState.FAILED if give_up else OAuthState.FAILING,
            "lease_until": None, "version": row.version + 1,
        }  # fmt: skip
        await IntegrationToken.filter(
            integration_id=row.integration_id, version=row.version
        ).update(**values)
        row.update_from_dict(values)
        return row

    async def store(
        self, integration: Integration, tokens: TokenSet, *, now: datetime
    ) -> IntegrationToken:
        """Replace the tokens outright (a completed authorization)."""
        row = await self.create(integration)
        values = await self._values(integration, tokens, now=now)
        values |= {"renewals": 0, "version": row.version + 1}
        await IntegrationToken.filter(integration_id=integration.id).update(**values)
        return await IntegrationToken.get(integration_id=integration.id)

    async def _values(
        self, integration: Integration, tokens: TokenSet, *, now: datetime
    ) -> dict[str, Any]:
        owner = credential_owner(integration.id, integration.tenant_id)
        sealed = await self._vault.seal(owner, TOKENS, plaintext=tokens.sealed_json())
        lifetime = tokens.expires_in
        token = tokens.access_token
        return {
            "tokens": sealed, "state": OAuthState.CONNECTED, "scope": tokens.scope,
            "token_hint": token[-4:] if len(token) >= HINT_MIN_LENGTH else None,
            "obtained_at": now,
            "expires_at": None if lifetime is None else now + timedelta(seconds=lifetime),
            "failures": 0, "failing_since": None, "retry_at": None, "last_error": None,
            "lease_until": None,
        }  # fmt: skip

    async def opened(
        self, integration: Integration, row: IntegrationToken | None
    ) -> TokenSet | None:
        """The stored tokens, opened from the keyring (None when there are none)."""
        if row is None or row.tokens is None:
            return None
        plain = await self._vault.open(
            credential_owner(integration.id, integration.tenant_id),
            TOKENS,
            sealed=row.tokens,
            purpose="outbound call",
        )
        return TokenSet.from_sealed_json(plain)
