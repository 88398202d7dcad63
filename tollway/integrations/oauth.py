"""OAuth2 requests of integrations: the authorization URL (with PKCE) and the token endpoint's
grants, built and read with authlib's protocol helpers and sent through the SSRF guard."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tollway.errors import TollwayError
from tollway.integrations.credentials import OAuth2AuthorizationCode, OAuth2ClientCredentials

OAuth2Shape = OAuth2ClientCredentials | OAuth2AuthorizationCode
PERMANENT_ERRORS = frozenset({
    "invalid_grant", "invalid_client", "unauthorized_client", "unsupported_grant_type",
    "invalid_scope",
})  # fmt: skip
"""Token endpoint errors that asking again cannot mend (RFC 6749 section 5.2)."""
TOKEN_TIMEOUT = 10.0
MAX_ERROR = 300


class TokenSet(NamedTuple):
    """What a token endpoint granted."""

    access_token: str
    token_type: str
    refresh_token: str | None
    scope: str | None
    expires_in: float | None
    """Seconds from the grant; None when the provider gave no lifetime."""

    def sealed_json(self) -> str:
        """The tokens as JSON, ready to seal."""
        return json.dumps(
            {"access_token": self.access_token, "token_type": self.token_type,
             "refresh_token": self.refresh_token, "scope": self.scope},
        )  # fmt: skip

    @classmethod
    def from_sealed_json(cls, text: str) -> TokenSet:
        """From `sealed_json` once opened (the lifetime is kept beside it)."""
        data = json.loads(text)
        return cls(
            data["access_token"], data["token_type"], data.get("refresh_token"),
            data.get("scope"), None,
        )  # fmt: skip


class TokenRequestFailed(Exception):
    """The token endpoint refused or could not be reached."""

    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail[:MAX_ERROR])
        self.permanent = permanent


def authorization_url(
    shape: OAuth2AuthorizationCode, *, redirect_uri: str, state: str, verifier: str
) -> str:
    """Where to send the user: the provider's consent page, with `state` and the S256 PKCE
    challenge of `verifier`."""
    challenge = create_s256_code_challenge(verifier)  # type: ignore[no-untyped-call]
    url = prepare_grant_uri(
        shape.authorize_url, shape.client_id, "code", redirect_uri=redirect_uri,
        scope=" ".join(shape.scopes) or None, state=state, code_challenge=challenge,
        code_challenge_method="S256",
    )  # fmt: skip
    return str(url)


class TokenEndpoint:
    """Grants from providers' token endpoints, over a client whose transport applies the
    SSRF guard to every request."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def client_credentials(self, shape: OAuth2ClientCredentials) -> TokenSet:
        """A token for the client itself."""
        extra = {"audience": shape.audience} if shape.audience else {}
        return await self._grant(
            shape, "client_credentials", scope=" ".join(shape.scopes) or None, **extra
        )

    async def refresh(self, shape: OAuth2Shape, refresh_token: str) -> TokenSet:
        """New tokens for a refresh token."""
        return await self._grant(shape, "refresh_token", refresh_token=refresh_token)

    async def exchange_code(
        self, shape: OAuth2AuthorizationCode, *, code: str, redirect_uri: str, verifier: str
    ) -> TokenSet:
        """Tokens for the code the provider sent back to the callback."""
        return await self._grant(
            shape, "authorization_code", code=code, redirect_uri=redirect_uri,
            code_verifier=verifier,
        )  # fmt: skip

    async def aclose(self) -> None:
        """Close the client."""
        await self._http.aclose()

    async def _grant(self, shape: OAuth2Shape, grant_type: str, **params: Any) -> TokenSet:
        body = prepare_token_request(grant_type, **{k: v for k, v in params.items() if v})
        method = "client_secret_post" if shape.client_auth == "post" else "client_secret_basic"
        if not shape.client_secret:
            method = "none"
        headers = {
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
        }  # fmt: skip
        auth = ClientAuth(shape.client_id, shape.client_secret or "", method)
        url, headers, body = auth.prepare(  # type: ignore[no-untyped-call]
            "POST", shape.token_url, headers, body
        )
        try:
            answer = await self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TokenRequestFailed(
                f"token endpoint unreachable: {exc or type(exc).__name__}", permanent=False
            ) from None
        except TollwayError as exc:  # the SSRF guard refused the token URL
            raise TokenRequestFailed(f"token endpoint refused: {exc}", permanent=True) from None
        return _read_grant(answer)


def _read_grant(answer: httpx.Response) -> TokenSet:
    try:
        data = answer.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise TokenRequestFailed(
            f"token endpoint answered HTTP {answer.status_code} without a JSON object",
            permanent=False,
        )
    error = data.get("error")
    if answer.status_code != 200 or error:
        described = data.get("error_description") or ""
        raise TokenRequestFailed(
            f"token endpoint answered HTTP {answer.status_code}: {error or 'error'}"
            + (f" ({described})" if described else ""),
            permanent=answer.status_code < 500 and error in PERMANENT_ERRORS,
        )
    token, kind = data.get("access_token"), data.get("token_type", "Bearer")
    if not isinstance(token, str) or not token or not isinstance(kind, str):
        raise TokenRequestFailed("token endpoint granted no access_token", permanent=False)
    refresh, scope = data.get("refresh_token"), data.get("scope")
    return TokenSet(
        token, kind,
        refresh if isinstance(refresh, str) and refresh else None,
        scope if isinstance(scope, str) else None,
        _lifetime(data.get("expires_in")),
    )  # fmt: skip


def _lifetime(value: object) -> float | None:
    """`expires_in` in seconds (some providers send it as a string); None when absent."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if 0 < seconds < 10**9 else None
