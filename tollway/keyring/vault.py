"""The keyring's store: one data key per owner in `data_keys`, unwrapped at most once per
process while cached (each unwrap audited), sealing and opening the owner's secret fields."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from tortoise.exceptions import IntegrityError

from tollway.audit.service import AuditService
from tollway.auth.principal import Principal, Role
from tollway.keyring import envelope
from tollway.keyring.envelope import DecryptionError, Owner
from tollway.keyring.kek import KeyEncryptionKeys
from tollway.models import DataKey

KEYRING = Principal(subject="tollway-keyring", role=Role.SUPER_ADMIN)
"""Who the audit log names for the keyring's own unwraps and rotations."""
CACHE_ENTRIES = 10_000

LegacyOpener = Callable[[str], str]
"""Opens a value sealed before the keyring (the webhook secrets' Fernet text)."""


class _Loaded(NamedTuple):
    data_key: bytes
    created: bool
    """Made just now, in the caller's transaction (else unwrapped from a stored row)."""


class Vault:
    """Seals and opens the secret fields of owners; safe to share across tasks."""

    def __init__(
        self, keks: KeyEncryptionKeys, audit: AuditService, *, legacy: LegacyOpener | None = None
    ) -> None:
        self.keks = keks
        self._audit = audit
        self._legacy = legacy
        self._keys: OrderedDict[Owner, bytes] = OrderedDict()
        self._loading: dict[Owner, asyncio.Future[bytes]] = {}

    async def seal(self, owner: Owner, field: str, *, plaintext: str) -> str:
        """`plaintext` encrypted for `field` of `owner` (its data key made on first use)."""
        return envelope.seal(
            await self._data_key(owner, create=True), owner, field=field, plaintext=plaintext
        )

    async def open(self, owner: Owner, field: str, *, sealed: str, purpose: str) -> str:
        """The plaintext of a sealed field; `purpose` is audited when the data key is unwrapped."""
        if not envelope.is_sealed(sealed):
            if self._legacy is None:
                raise DecryptionError(f"{owner.kind} {owner.id}: {field} is not sealed")
            return self._legacy(sealed)
        data_key = await self._data_key(owner, create=False, purpose=purpose)
        return envelope.open_sealed(data_key, owner, field=field, sealed=sealed)

    async def forget(self, owner: Owner) -> None:
        """Delete the owner's data key: whatever it sealed can no longer be opened."""
        self._keys.pop(owner, None)
        await DataKey.filter(owner_type=owner.kind, owner_id=owner.id).delete()

    async def _data_key(self, owner: Owner, *, create: bool, purpose: str = "seal") -> bytes:
        cached = self._keys.get(owner)
        if cached is not None:
            self._keys.move_to_end(owner)
            return cached
        while (loading := self._loading.get(owner)) is not None:
            # Concurrent opens of one owner: one unwrap, one audit entry.
            try:
                return await asyncio.shield(loading)
            except asyncio.CancelledError:
                if not loading.cancelled():
                    raise  # this caller was cancelled, not the one loading
        future = self._loading[owner] = asyncio.get_running_loop().create_future()
        try:
            data_key, created = await self._load(owner, create=create, purpose=purpose)
            future.set_result(data_key)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: waiters re-raise it
            raise
        finally:
            del self._loading[owner]
        if created:
            # Not cached: the caller's transaction may still roll the new row back, and a
            # key that is nowhere stored must never seal anything else.
            return data_key
        self._keys[owner] = data_key
        if len(self._keys) > CACHE_ENTRIES:
            self._keys.popitem(last=False)
        return data_key

    async def _load(self, owner: Owner, *, create: bool, purpose: str) -> _Loaded:
        """The owner's data key, and whether it was created just now (else unwrapped)."""
        row = await DataKey.get_or_none(owner_type=owner.kind, owner_id=owner.id)
        if row is None:
            if not create:
                raise DecryptionError(f"{owner.kind} {owner.id} has no data key")
            created = await self._create(owner)
            if created is not None:
                return _Loaded(created, created=True)
            row = await DataKey.get(owner_type=owner.kind, owner_id=owner.id)
        data_key = envelope.unwrap(
            self.keks.key(row.kek_version), row.kek_version, owner=owner, wrapped=row.wrapped
        )
        entry = await self._audit.record(
            KEYRING,
            "data_key.unwrap",
            target_type=owner.kind,
            target_id=owner.id,
            tenant_id=owner.tenant_id,
            changes={"purpose": purpose, "kek_version": row.kek_version},
        )
        self._audit.announce(entry)
        return _Loaded(data_key, created=False)

    async def _create(self, owner: Owner) -> bytes | None:
        """A new data key stored wrapped by the current KEK; None when another process made
        one first (read that one)."""
        data_key = envelope.new_data_key()
        version = self.keks.current
        try:
            await DataKey.create(
                owner_type=owner.kind,
                owner_id=owner.id,
                tenant_id=owner.tenant_id,
                kek_version=version,
                wrapped=envelope.wrap(
                    self.keks.key(version), version, owner=owner, data_key=data_key
                ),
            )
        except IntegrityError:
            return None
        return data_key
