"""The immutable snapshot of a key that the enforcement hot path works from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tollway.keys.limits import quota_from_json, windows_from_json
from tollway.keys.validation import IPNetwork, parse_network
from tollway.models import ApiKeySecret, KeyStatus, TenantStatus
from tollway.ratelimit import Quota, Window
from tollway.ratelimit.plan import NEVER


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """Everything enforcement needs about one secret, read once and cached."""

    key_id: str
    tenant_id: str
    name: str
    prefix: str
    environment: str
    owner_type: str
    owner_id: str | None
    plan: str | None
    status: KeyStatus
    tenant_active: bool
    expires_at_ms: int | None
    secret_expires_at_ms: int | None
    scopes: frozenset[str]
    networks: tuple[IPNetwork, ...]
    origins: frozenset[str]
    windows: tuple[Window, ...]
    quota: Quota | None
    unrestricted_until_ms: int = field(init=False, compare=False, repr=False)
    """Until this instant every policy check but a route's scopes passes, whatever the
    address and origin (an active key without allow-lists); -1 when they must be made."""

    def __post_init__(self) -> None:
        until = -1
        if (
            self.status is KeyStatus.ACTIVE
            and self.tenant_active
            and not self.networks
            and not self.origins
        ):
            ends = [e for e in (self.expires_at_ms, self.secret_expires_at_ms) if e is not None]
            until = min(ends, default=NEVER)
        object.__setattr__(self, "unrestricted_until_ms", until)


async def fetch_key_record(secret_hash: str) -> KeyRecord | None:
    """The record behind a secret hash, or None when no key has that secret."""
    secret = await ApiKeySecret.get_or_none(hash=secret_hash).select_related(
        "key", "key__plan", "key__tenant"
    )
    if secret is None:
        return None
    key = secret.key
    plan = key.plan
    windows = key.rate_limits if key.rate_limits is not None else (plan.rate_limits if plan else [])
    quota = key.quota if key.quota is not None else (plan.quota if plan else None)
    return KeyRecord(
        key_id=str(key.id),
        tenant_id=str(key.tenant_id),
        name=key.name,
        prefix=key.prefix,
        environment=key.environment.value,
        owner_type=key.owner_type.value,
        owner_id=key.owner_id,
        plan=plan.name if plan else None,
        status=key.status,
        tenant_active=key.tenant.status is TenantStatus.ACTIVE,
        expires_at_ms=_ms(key.expires_at),
        secret_expires_at_ms=_ms(secret.expires_at),
        scopes=frozenset(key.scopes),
        networks=tuple(parse_network(n) for n in key.allowed_ips),
        origins=frozenset(key.allowed_origins),
        windows=tuple(windows_from_json(windows)),
        quota=quota_from_json(quota),
    )
