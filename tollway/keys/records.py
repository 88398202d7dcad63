"""The immutable snapshot of a key that the enforcement hot path works from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tollway.keys.limits import quota_from_json, windows_from_json
from tollway.keys.validation import IPNetwork, parse_network
from tollway.models import KeyStatus, TenantStatus
from tollway.ratelimit import Quota, Window
from tollway.ratelimit.plan import NEVER
from tollway.sql import Dialect, as_datetime, connection, dialect_of


def _ms(value: Any) -> int | None:
    return None if value is None else int(as_datetime(value).timestamp() * 1000)


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
    anonymize_ips: bool | None = None
    """The tenant's choice for its client addresses (None: the deployment's default)."""
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


LOOKUP_SQL = (
    "SELECT k.id, k.tenant_id, k.name, k.prefix, k.environment, k.owner_type, k.owner_id,"
    " k.status, k.expires_at, k.scopes, k.allowed_ips, k.allowed_origins, k.rate_limits,"
    " k.quota, s.expires_at AS secret_expires_at, t.status AS tenant_status,"
    " t.anonymize_ips AS tenant_anonymize_ips,"
    " p.name AS plan_name, p.rate_limits AS plan_rate_limits, p.quota AS plan_quota"
    " FROM api_key_secrets s JOIN api_keys k ON k.id = s.key_id"
    " JOIN tenants t ON t.id = k.tenant_id LEFT JOIN plans p ON p.id = k.plan_id"
    " WHERE s.hash = ?"
)
"""Everything a verdict needs about a secret, in one indexed query (`hash` is the key)."""
_LOOKUP = {False: LOOKUP_SQL, True: Dialect(postgres=True).sql(LOOKUP_SQL)}


async def fetch_key_record(secret_hash: str) -> KeyRecord | None:
    """The record behind a secret hash, or None when no key has that secret."""
    client = connection()
    rows = await client.execute_query_dict(_LOOKUP[dialect_of(client).postgres], [secret_hash])
    return record_of(rows[0]) if rows else None


def record_of(row: dict[str, Any]) -> KeyRecord:
    """A `KeyRecord` from a row of `LOOKUP_SQL` (JSON read back from either database)."""
    plan = row["plan_name"]
    windows = _json(row["rate_limits"])
    if windows is None:
        windows = _json(row["plan_rate_limits"]) if plan else []
    quota = _json(row["quota"])
    if quota is None and plan:
        quota = _json(row["plan_quota"])
    return KeyRecord(
        key_id=str(row["id"]),
        tenant_id=str(row["tenant_id"]),
        name=row["name"],
        prefix=row["prefix"],
        environment=str(row["environment"]),
        owner_type=str(row["owner_type"]),
        owner_id=row["owner_id"],
        plan=plan,
        status=KeyStatus(row["status"]),
        tenant_active=row["tenant_status"] == TenantStatus.ACTIVE.value,
        expires_at_ms=_ms(row["expires_at"]),
        secret_expires_at_ms=_ms(row["secret_expires_at"]),
        scopes=frozenset(_json(row["scopes"]) or ()),
        networks=tuple(parse_network(n) for n in _json(row["allowed_ips"]) or ()),
        origins=frozenset(_json(row["allowed_origins"]) or ()),
        windows=tuple(windows_from_json(windows or [])),
        quota=quota_from_json(quota),
        anonymize_ips=_flag(row["tenant_anonymize_ips"]),
    )


def _flag(value: Any) -> bool | None:
    """A nullable boolean column as read back (SQLite gives 0 and 1)."""
    return None if value is None else bool(value)


def _json(value: Any) -> Any:
    """A JSON column as read back: text (SQLite, asyncpg's jsonb) or already decoded."""
    return json.loads(value) if isinstance(value, str | bytes) else value
