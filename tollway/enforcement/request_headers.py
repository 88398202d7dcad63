"""The request headers enforcement reads, in one pass over the ASGI header list."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class RequestHeaders(NamedTuple):
    """What the middleware needs from a request's headers."""

    secret: str | None
    """The API key: `X-API-Key`, else an `Authorization: Bearer` token."""
    origin: str | None
    forwarded: str | None
    """`X-Forwarded-For`, believed only from trusted proxies (`ClientAddress`)."""
    agent: str | None
    request_bytes: int
    """`Content-Length`, 0 when absent or not a number."""


def read_headers(headers: Iterable[tuple[bytes, bytes]]) -> RequestHeaders:
    """The headers enforcement reads (names arrive lower-cased from the ASGI server)."""
    secret = origin = forwarded = agent = None
    request_bytes = 0
    for name, value in headers:
        if name == b"x-api-key":
            secret = value.decode("latin-1").strip()
        elif name == b"authorization" and secret is None:
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                secret = token.strip()
        elif name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"x-forwarded-for":
            forwarded = value.decode("latin-1")
        elif name == b"user-agent":
            agent = value.decode("latin-1")
        elif name == b"content-length" and value.isdigit():
            request_bytes = int(value)
    return RequestHeaders(secret, origin, forwarded, agent, request_bytes)
