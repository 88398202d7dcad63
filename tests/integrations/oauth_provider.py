"""A local OAuth2 provider over real HTTP: the authorization code grant with PKCE (S256
checked), refresh tokens (rotated on use), client credentials, and an API that wants a live
access token. It can be told to fail its token endpoint (unavailable, or `invalid_grant`) and
to answer slowly, and counts every grant."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.webhooks.receiver import serving

CLIENT_ID = "tollway-test-client"
CLIENT_SECRET = "client-secret-0123456789"
Failure = Literal["unavailable", "invalid_grant"]


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OAuthProvider:
    """The provider's state; `url` once serving."""

    def __init__(self) -> None:
        self.url = ""
        self.codes: dict[str, dict[str, str]] = {}
        self.access: set[str] = set()
        self.refresh: set[str] = set()
        self.grants: Counter[str] = Counter()
        self.expires_in: int | None = 3600
        self.failing: Failure | None = None
        self.token_delay = 0.0
        self.api_calls: list[str] = []

    def authorization(self) -> dict[str, Any]:
        """Credentials values of an OAUTH2_AUTHORIZATION_CODE integration of this provider."""
        return {
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "authorize_url": f"{self.url}/authorize", "token_url": f"{self.url}/token",
            "scopes": ["read", "write"],
        }  # fmt: skip

    def client_credentials(self) -> dict[str, Any]:
        """Credentials values of an OAUTH2_CLIENT_CREDENTIALS integration of this provider."""
        return {
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "client_auth": "post",
            "token_url": f"{self.url}/token", "scopes": ["read"],
        }  # fmt: skip

    def revoke_access(self) -> None:
        """Every access token stops working (refresh tokens still do)."""
        self.access.clear()

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, 400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return JSONResponse({"error": "invalid_request", "error_description": "PKCE"}, 400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"],
            "scope": q.get("scope", ""),
        }  # fmt: skip
        target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q.get("state", "")})
        return RedirectResponse(target, status_code=302)

    async def token(self, request: Request) -> Response:
        form: dict[str, Any] = dict(parse_qsl((await request.body()).decode()))
        grant = str(form.get("grant_type"))
        self.grants[grant] += 1
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, 401)
        if grant != "authorization_code" and self.failing == "unavailable":
            return JSONResponse({"error": "temporarily_unavailable"}, 503)
        if grant != "authorization_code" and self.failing == "invalid_grant":
            return JSONResponse({"error": "invalid_grant", "error_description": "revoked"}, 400)
        if grant == "authorization_code":
            issued = self.codes.pop(str(form.get("code")), None)
            verifier = str(form.get("code_verifier", ""))
            if issued is None or s256(verifier) != issued["challenge"]:
                return JSONResponse({"error": "invalid_grant"}, 400)
            if form.get("redirect_uri") != issued["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant"}, 400)
            return self._grant(issued["scope"], refresh=True)
        if grant == "refresh_token":
            used = str(form.get("refresh_token"))
            if used not in self.refresh:
                return JSONResponse({"error": "invalid_grant"}, 400)
            self.refresh.discard(used)  # rotated
            return self._grant("read write", refresh=True)
        if grant == "client_credentials":
            return self._grant(str(form.get("scope", "")), refresh=False)
        return JSONResponse({"error": "unsupported_grant_type"}, 400)

    async def api(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        self.api_calls.append(token)
        if token not in self.access:
            return JSONResponse({"error": "invalid_token"}, 401)
        return JSONResponse({"ok": True, "path": request.url.path})

    def _client_ok(self, request: Request, form: dict[str, Any]) -> bool:
        basic = request.headers.get("authorization", "")
        if basic.startswith("Basic "):
            pair = base64.b64decode(basic.removeprefix("Basic ")).decode()
            return pair == f"{CLIENT_ID}:{CLIENT_SECRET}"
        return form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET

    def _grant(self, scope: str, *, refresh: bool) -> Response:
        access = "at-" + secrets.token_urlsafe(24)
        self.access.add(access)
        body: dict[str, Any] = {"access_token": access, "token_type": "bearer", "scope": scope}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        if refresh:
            body["refresh_token"] = "rt-" + secrets.token_urlsafe(24)
            self.refresh.add(body["refresh_token"])
        return JSONResponse(body, headers={"cache-control": "no-store"})


@contextlib.asynccontextmanager
async def oauth_provider() -> AsyncIterator[OAuthProvider]:
    """The provider on a loopback port for the duration of the block."""
    provider = OAuthProvider()
    app = Starlette(
        routes=[
            Route("/authorize", provider.authorize, methods=["GET"]),
            Route("/token", provider.token, methods=["POST"]),
            Route("/api/{path:path}", provider.api, methods=["GET", "POST"]),
        ]
    )
    async with serving(app) as url:
        provider.url = url
        yield provider
