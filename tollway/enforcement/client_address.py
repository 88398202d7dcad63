"""Who the client is: the peer, or behind trusted proxies the last X-Forwarded-For hop that
is not one of them. Only `TOLLWAY_TRUSTED_PROXIES` are believed, whatever the server says."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from tollway.asgi import Scope


class ClientAddress:
    """Resolves client addresses for one set of trusted proxy networks."""

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._trusted = tuple(ipaddress.ip_network(c, strict=False) for c in trusted_proxies)

    def of(self, scope: Scope, forwarded: str | None) -> str | None:
        """The client of an ASGI `scope` whose X-Forwarded-For header is `forwarded`."""
        client = scope.get("client")
        peer: str | None = client[0] if client else None
        if forwarded is None or not self._trusted or peer is None or not self._is_trusted(peer):
            return peer
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not self._is_trusted(hop):
                return hop
        return peer

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)
