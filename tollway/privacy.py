"""Client addresses as stored: whole, or anonymised to their network, by the tenant's choice.

Every stored address passes here before it is written: usage events (the request log),
security events (and so the alerts and webhooks made from them). The choice is the tenant's
`anonymizeIps` where it made one, else `TOLLWAY_USAGE_ANONYMIZE_IPS`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache


def _network(address: str | None) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not address:
        return None
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    prefix = 24 if parsed.version == 4 else 48
    return ipaddress.ip_network(f"{parsed}/{prefix}", strict=False)


def network_of(address: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of an address, as CIDR (None for no address)."""
    network = _network(address)
    return None if network is None else str(network)


@lru_cache(maxsize=8192)
def anonymize_ip(address: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network address of `address`; other text unchanged.

    Cached: with anonymisation on, every request of a client asks for the same address, and
    a denied one asks twice (its usage event and its security event)."""
    network = _network(address)
    return address if network is None else str(network.network_address)


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Decides how an address is stored; `default` holds where the tenant chose nothing."""

    default: bool = False

    def anonymizes(self, tenant_choice: bool | None) -> bool:
        """True when addresses of a tenant with this choice (None: none made) are truncated."""
        return self.default if tenant_choice is None else tenant_choice

    def stored(self, address: str | None, tenant_choice: bool | None) -> str | None:
        """`address` as it may be stored for a tenant with this choice."""
        return anonymize_ip(address) if self.anonymizes(tenant_choice) else address
