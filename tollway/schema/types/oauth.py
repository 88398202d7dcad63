"""OAuth2 types of integrations: where their tokens stand, and a started authorization."""

from __future__ import annotations

from datetime import datetime

import strawberry

from tollway.integrations.authorization import AuthorizationStart
from tollway.models import IntegrationToken, OAuthState

strawberry.enum(OAuthState)


@strawberry.type
class IntegrationOAuth:
    """An OAuth2 integration's tokens (never shown: `tokenHint` is the access token's last 4
    characters) and how renewing them goes."""

    state: OAuthState
    scope: str | None
    token_hint: str | None
    obtained_at: datetime | None
    expires_at: datetime | None
    renewals: int
    failures: int = strawberry.field(description="Failed renewals in a row.")
    failing_since: datetime | None
    retry_at: datetime | None = strawberry.field(
        description="When renewing is tried again, while backing off."
    )
    last_error: str | None

    @classmethod
    def from_model(cls, row: IntegrationToken | None) -> IntegrationOAuth:
        """From the stored row; PENDING when there is none yet."""
        if row is None:
            return cls(
                state=OAuthState.PENDING, scope=None, token_hint=None, obtained_at=None,
                expires_at=None, renewals=0, failures=0, failing_since=None, retry_at=None,
                last_error=None,
            )  # fmt: skip
        return cls(
            state=row.state, scope=row.scope, token_hint=row.token_hint,
            obtained_at=row.obtained_at, expires_at=row.expires_at, renewals=row.renewals,
            failures=row.failures, failing_since=row.failing_since, retry_at=row.retry_at,
            last_error=row.last_error,
        )  # fmt: skip


@strawberry.type
class IntegrationAuthorizationStart:
    """Send the user to `url`; the provider sends them back to Tollway's callback with
    `state` before `expiresAt`."""

    url: str
    state: str
    expires_at: datetime

    @classmethod
    def of(cls, start: AuthorizationStart) -> IntegrationAuthorizationStart:
        """From the started flow."""
        return cls(url=start.url, state=start.state, expires_at=start.expires_at)
