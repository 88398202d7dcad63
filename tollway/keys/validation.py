"""Validation of key fields: scopes, networks, origins, expiry, names."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

from tollway.errors import BadUserInput

SCOPE_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.*-]+)*$")
MAX_SCOPES = 100
MAX_NETWORKS = 100
MAX_ORIGINS = 50

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def clean_scopes(scopes: Sequence[str]) -> list[str]:
    """Scopes like `reports:read` or `reports:*`, deduplicated in order."""
    if len(scopes) > MAX_SCOPES:
        raise BadUserInput(f"scopes: at most {MAX_SCOPES}")
    for scope in scopes:
        if len(scope) > 100 or not SCOPE_PATTERN.match(scope):
            raise BadUserInput(f"scopes: {scope!r} is not a valid scope (e.g. reports:read)")
    return list(dict.fromkeys(scopes))


def parse_network(text: str) -> IPNetwork:
    """An IPv4/IPv6 address or CIDR block."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise BadUserInput(f"allowedIps: {text!r} is not an IP address or CIDR block") from None


def clean_networks(networks: Sequence[str]) -> list[str]:
    """Normalised CIDR strings."""
    if len(networks) > MAX_NETWORKS:
        raise BadUserInput(f"allowedIps: at most {MAX_NETWORKS}")
    return list(dict.fromkeys(str(parse_network(n)) for n in networks))


def normalize_origin(origin: str) -> str | None:
    """`scheme://host[:port]` in lower case, or None when it is not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    suffix = f":{port}" if port and port != default else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{suffix}"


def clean_origins(origins: Sequence[str]) -> list[str]:
    """Normalised origins; each must be `http(s)://host[:port]`."""
    if len(origins) > MAX_ORIGINS:
        raise BadUserInput(f"allowedOrigins: at most {MAX_ORIGINS}")
    cleaned = []
    for origin in origins:
        normal = normalize_origin(origin)
        if normal is None:
            raise BadUserInput(
                f"allowedOrigins: {origin!r} is not an origin (e.g. https://app.example)"
            )
        cleaned.append(normal)
    return list(dict.fromkeys(cleaned))


def clean_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    """A future instant (naive datetimes are taken as UTC)."""
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    if expires_at <= now:
        raise BadUserInput("expiresAt is in the past")
    return expires_at
