"""Credentials injected into outbound requests, one `httpx.Auth` per static credential type."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Generator

import httpx

from tollway.errors import Conflict
from tollway.integrations.credentials import (
    ApiKeyCredentials,
    BasicCredentials,
    BearerCredentials,
    CredentialShape,
    HmacCredentials,
)


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


def auth_for(shape: CredentialShape) -> httpx.Auth:
    """The `httpx.Auth` that injects `shape` into each request."""
    if isinstance(shape, ApiKeyCredentials):
        return ApiKeyAuth(shape)
    if isinstance(shape, BasicCredentials):
        return httpx.BasicAuth(shape.username, shape.password)
    if isinstance(shape, BearerCredentials):
        return BearerAuth(shape)
    if isinstance(shape, HmacCredentials):
        return HmacAuth(shape)
    raise Conflict(
        f"{type(shape).__name__}: OAuth2 credentials need a token exchange, which outbound "
        "calls do not make yet"
    )
