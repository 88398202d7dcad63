"""The SSRF guard: webhook URLs are checked when saved and their addresses again, after DNS,
at every send, so a name that later resolves to an internal address reaches nothing."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from tollway.errors import BadUserInput

MAX_URL = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeDestination(BadUserInput):
    """The URL resolves to loopback, private, link-local or metadata addresses."""


def clean_url(url: str) -> str:
    """An absolute http(s) URL with a host and no credentials, or BAD_USER_INPUT."""
    text = url.strip()
    if not text or len(text) > MAX_URL:
        raise BadUserInput(f"url: give an http(s) URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise BadUserInput(f"url: not a valid URL ({exc})") from None
    if parts.scheme not in {"http", "https"}:
        raise BadUserInput(f"url: must be http or https, not {parts.scheme or 'relative'!r}")
    if not parts.hostname:
        raise BadUserInput("url: no host")
    if parts.username or parts.password:
        raise BadUserInput("url: credentials in the URL are not allowed; use custom headers")
    if port == 0:
        raise BadUserInput("url: port 0 is not valid")
    return text


def is_public(address: IPAddress) -> bool:
    """True for globally routable unicast addresses (never loopback, private, link-local,
    shared, reserved, multicast or the cloud metadata addresses, which are among those)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def require_public(host: str, address: IPAddress) -> None:
    """Raise UnsafeDestination unless `address` (what `host` resolved to) is public."""
    if not is_public(address):
        raise UnsafeDestination(
            f"url: {host} resolves to {address}, a loopback, private, link-local or metadata "
            "address; webhooks may not reach internal networks "
            "(TOLLWAY_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true allows it)"
        )


def literal_address(url: str) -> IPAddress | None:
    """The address written as the URL's host, if it is one (no lookup needed)."""
    try:
        return ipaddress.ip_address((urlsplit(url).hostname or "").strip("[]"))
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver that refuses every name resolving to a non-public address, so the
    connection is made to exactly the addresses checked (no second lookup to rebind).
    aiohttp does not resolve address literals: check those with `require_public` first."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve, then refuse any non-public answer."""
        results = await self._inner.resolve(host, port, family)
        for result in results:
            require_public(host, ipaddress.ip_address(result["host"].split("%")[0]))
        return results

    async def close(self) -> None:
        """Nothing to release."""
        await self._inner.close()


async def check_destination(url: str, allow_private: bool) -> None:
    """Refuse a URL whose host is, or resolves to, a non-public address (unless allowed)."""
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    literal = literal_address(url)
    if literal is not None:
        require_public(host, literal)
        return
    port = urlsplit(url).port or (443 if url.startswith("https") else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise BadUserInput(f"url: cannot resolve {host!r} ({exc.strerror or exc})") from None
    for info in infos:
        require_public(host, ipaddress.ip_address(str(info[4][0]).split("%")[0]))
