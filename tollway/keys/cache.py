"""A local cache of key records, invalidated across instances through the event bus.

Positive entries live `ttl` seconds, negative ones (unknown secrets) `negative_ttl`. When the
database cannot be reached, stale entries keep serving so known keys keep working.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from tollway.keys.records import KeyRecord
from tollway.keys.secrets import hash_secret

logger = logging.getLogger(__name__)

Loader = Callable[[str], Awaitable[KeyRecord | None]]


class KeyCache:
    """secret hash -> KeyRecord (or None for unknown secrets)."""

    def __init__(
        self,
        loader: Loader,
        ttl: float = 60.0,
        negative_ttl: float = 5.0,
        max_entries: int = 100_000,
    ) -> None:
        self._loader = loader
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._max_entries = max_entries
        self._entries: dict[str, tuple[KeyRecord | None, float]] = {}
        self._hashes_by_key: dict[str, set[str]] = {}
        # In front of `_entries`, by the secret itself: the hot path skips hashing. Any
        # invalidation empties it (they are rare); the entries behind it stay.
        self._by_secret: dict[str, tuple[KeyRecord | None, float]] = {}

    def fresh(self, secret: str) -> tuple[KeyRecord | None, float] | None:
        """The entry `(record, expires)` when `secret` was looked up lately and the entry is
        fresh (the record is None for an unknown secret); None when `for_secret` has to ask."""
        entry = self._by_secret.get(secret)
        if entry is not None and entry[1] > time.monotonic():
            return entry
        return None

    async def for_secret(self, secret: str) -> KeyRecord | None:
        """`get(hash_secret(secret))`, remembered by secret while the entry is fresh."""
        entry = self.fresh(secret)
        if entry is not None:
            return entry[0]
        secret_hash = hash_secret(secret)
        record = await self.get(secret_hash)
        # With its expiry: a stale record served while the database is down has expired
        # already, so the next request asks again.
        entry = self._entries.get(secret_hash)
        if entry is not None:
            if len(self._by_secret) >= self._max_entries:
                self._by_secret.clear()
            self._by_secret[secret] = entry
        return record

    async def get(self, secret_hash: str) -> KeyRecord | None:
        """The record, from cache when fresh; raises when unknown and the database is down."""
        entry = self._entries.get(secret_hash)
        now = time.monotonic()
        if entry is not None and entry[1] > now:
            return entry[0]
        try:
            record = await self._loader(secret_hash)
        except Exception:
            if entry is not None and entry[0] is not None:
                logger.warning("database unreachable: serving a stale key record")
                return entry[0]
            raise
        self._store(secret_hash, record, now)
        return record

    def _store(self, secret_hash: str, record: KeyRecord | None, now: float) -> None:
        if len(self._entries) >= self._max_entries:
            self.clear()
        ttl = self._ttl if record is not None else self._negative_ttl
        self._entries[secret_hash] = (record, now + ttl)
        if record is not None:
            self._hashes_by_key.setdefault(record.key_id, set()).add(secret_hash)

    def invalidate_key(self, key_id: str) -> None:
        """Forget every secret of one key."""
        for secret_hash in self._hashes_by_key.pop(key_id, ()):
            self._entries.pop(secret_hash, None)
        self._by_secret.clear()

    def clear(self) -> None:
        """Forget everything (plan changes, overflow)."""
        self._entries.clear()
        self._hashes_by_key.clear()
        self._by_secret.clear()
