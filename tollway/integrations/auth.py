"""Credentials injected into outbound requests: one `httpx.Auth` per static credential type,
and one for OAuth2 that asks the token keeper for a token and renews it once when the
provider refuses it."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncGenerator, Generator

import httpx

from tollway.integrations.credentials import (
    ApiKeyCredentials,
    BasicCredentials,
    BearerCredentials,
    CredentialShape,
    HmacCredentials,
    OAuth2AuthorizationCode,
    OAuth2ClientCredentials,
)
from tollway.integrations.oauth import OAuth2Shape
from tollway.integrations.tokens import TokenKeeper
from tollway.models import Integration

UNAUTHORIZED = 401


class ApiKeyAuth(httpx.Auth):
    """The key in a header (with its prefix) or a query parameter."""

    def __init__(self, credentials: ApiKeyCredentials) -> None:
        self.credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        c = self.credentials
        if c.query:
            request.url = request.url.copy_merge_params({c.query: c.key})
        else:
            request.headers[c.header or "Authorization"] = c.prefix + c.key
        yield request


class BearerAuth(httpx.Auth):
    """`Authorization: Bearer <token>`."""

    def __init__(self, credentials: BearerCredentials) -> None:
        self.token = credentials.token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


class HmacAuth(httpx.Auth):
    """`<header>: <algorithm>=<hex HMAC of the body>` under the shared secret."""

    requires_request_body = True

    def __init__(self, credentials: HmacCredentials) -> None:
        self.credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        c = self.credentials
        digest = hashlib.sha256 if c.algorithm == "SHA256" else hashlib.sha512
        mac = hmac.new(c.secret_key.encode(), request.content, digest).hexdigest()
        request.headers[c.header] = f"{c.algorithm.lower()}={mac}"
        yield request


class OAuth2Auth(httpx.Auth):
    """`Authorization: Bearer <access token>`, the token kept fresh by the keeper. A 401 makes
    the keeper renew it (once, however many calls saw the 401) and the request is sent again
    when its body can be replayed."""

    def __init__(
        self, keeper: TokenKeeper, integration: Integration, *, shape: OAuth2Shape
    ) -> None:
        self.keeper = keeper
        self.integration = integration
        self.shape = shape

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        granted = await self.keeper.access_token(self.integration, self.shape)
        request.headers["Authorization"] = granted.authorization
        response = yield request
        if response.status_code != UNAUTHORIZED or not isinstance(request.stream, httpx.ByteStream):
            return
        renewed = await self.keeper.access_token(
            self.integration, self.shape, stale=granted.access_token
        )
        if renewed.access_token != granted.access_token:
            request.headers["Authorization"] = renewed.authorization
            yield request


def auth_for(
    shape: CredentialShape, integration: Integration, *, keeper: TokenKeeper
) -> httpx.Auth:
    """The `httpx.Auth` that injects `shape` into each request."""
    if isinstance(shape, ApiKeyCredentials):
        return ApiKeyAuth(shape)
    if isinstance(shape, BasicCredentials):
        return httpx.BasicAuth(shape.username, shape.password)
    if isinstance(shape, BearerCredentials):
        return BearerAuth(shape)
    if isinstance(shape, HmacCredentials):
        return HmacAuth(shape)
    if isinstance(shape, OAuth2ClientCredentials | OAuth2AuthorizationCode):
        return OAuth2Auth(keeper, integration, shape=shape)
    raise TypeError(f"no outbound authentication for {type(shape).__name__}")
