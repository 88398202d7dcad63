"""A local cache of key records, invalidated across instances through the event bus.

Records live `ttl` seconds. Unknown secret hashes are remembered `negative_ttl` seconds in a
bounded table of their own, so a flood of guessed keys asks the database once per distinct
hash and never pushes real keys out. Concurrent lookups of one hash share one query.

When the database cannot be reached, lookups go through a breaker: one probe at a time, with
backoff, while every other lookup is answered at once, from the stale record for a key seen
before (so known keys keep working at full speed past their cache time) or with
`DatabaseUnavailable` for one never seen.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

from tollway.breakers import Breaker
from tollway.keys.records import KeyRecord
from tollway.keys.secrets import hash_secret

logger = logging.getLogger(__name__)

Loader = Callable[[str], Awaitable[KeyRecord | None]]


class DatabaseUnavailable(Exception):
    """The database is down and the secret was never seen: it cannot be verified now."""


class KeyCache:
    """secret hash -> KeyRecord (or None for unknown secrets)."""

    def __init__(
        self,
        loader: Loader,
        ttl: float = 60.0,
        *,
        negative_ttl: float = 5.0,
        max_entries: int = 100_000,
        max_unknown: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        lookup_timeout: float = 2.0,
        keep_stale: float = 900.0,
    ) -> None:
        """`lookup_timeout`: a lookup taking longer counts as the database being down (an
        unreachable host can take a connection timeout, much longer, to fail). `keep_stale`:
        how long past its cache time an unused record stays for `sweep`."""
        self._loader = loader
        self._clock = clock
        self._lookup_timeout = lookup_timeout
        self.breaker = Breaker(clock)
        """Open while the database is unreachable."""
        self._ttl = ttl
        self._keep_stale = keep_stale
        self._negative_ttl = negative_ttl
        self._max_entries = max_entries
        self._max_unknown = max_unknown
        self._entries: dict[str, tuple[KeyRecord, float]] = {}
        self._unknown: dict[str, float] = {}  # hash -> until, oldest first
        self._hashes_by_key: dict[str, set[str]] = {}
        # In front of `_entries`, by the secret itself: the hot path skips hashing. Any
        # invalidation empties it (they are rare); the entries behind it stay.
        self._by_secret: dict[str, tuple[KeyRecord, float]] = {}
        self._loading: dict[str, asyncio.Future[KeyRecord | None]] = {}

    def fresh(self, secret: str) -> tuple[KeyRecord, float] | None:
        """The entry `(record, expires)` when `secret` is a key's, looked up lately and still
        fresh; None when `for_secret` has to be asked."""
        entry = self._by_secret.get(secret)
        if entry is not None and entry[1] > self._clock():
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
        """The record, from cache when fresh; raises when unknown and the database is down.
        Concurrent lookups of one hash share a single database query."""
        entry = self._entries.get(secret_hash)
        now = self._clock()
        if entry is not None and entry[1] > now:
            return entry[0]
        if self._unknown.get(secret_hash, 0.0) > now:
            return None
        loading = self._loading.get(secret_hash)
        if loading is None:
            if not self.breaker.allows():  # down, and another lookup is probing
                return self._unreachable(entry, None)
            loading = asyncio.ensure_future(self._load(secret_hash, entry))
            self._loading[secret_hash] = loading
            loading.add_done_callback(lambda done: self._loaded(secret_hash, done))
        return await asyncio.shield(loading)  # a waiter cancelled never cancels the others

    def _loaded(self, secret_hash: str, done: asyncio.Future[KeyRecord | None]) -> None:
        self._loading.pop(secret_hash, None)
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have gone

    async def _load(
        self, secret_hash: str, entry: tuple[KeyRecord, float] | None
    ) -> KeyRecord | None:
        try:
            async with asyncio.timeout(self._lookup_timeout):
                record = await self._loader(secret_hash)
        except Exception as exc:
            self.breaker.failed()
            return self._unreachable(entry, exc)
        self.breaker.succeeded()
        self._store(secret_hash, record, self._clock())
        return record

    @staticmethod
    def _unreachable(entry: tuple[KeyRecord, float] | None, cause: Exception | None) -> KeyRecord:
        if entry is not None:
            if cause is not None:
                logger.warning("database unreachable (%s): serving stale key records", cause)
            return entry[0]
        raise DatabaseUnavailable("the database is unreachable") from cause

    def _store(self, secret_hash: str, record: KeyRecord | None, now: float) -> None:
        if record is None:
            self._remember_unknown(secret_hash, now)
            return
        self._unknown.pop(secret_hash, None)
        if len(self._entries) >= self._max_entries:
            self.clear()
        self._entries[secret_hash] = (record, now + self._ttl)
        self._hashes_by_key.setdefault(record.key_id, set()).add(secret_hash)

    def _remember_unknown(self, secret_hash: str, now: float) -> None:
        unknown = self._unknown
        if len(unknown) >= self._max_unknown:  # the oldest tenth goes (dicts keep order)
            for stale in list(itertools.islice(unknown, self._max_unknown // 10 or 1)):
                del unknown[stale]
        unknown.pop(secret_hash, None)
        unknown[secret_hash] = now + self._negative_ttl

    def sweep(self) -> int:
        """Drop records unused for `keep_stale` past their cache time, and lapsed unknown
        hashes; how many records went. Nothing is dropped while the database is unreachable:
        stale records are what serves their keys then."""
        now = self._clock()
        unknown = self._unknown
        for secret_hash in [h for h, until in unknown.items() if until <= now]:
            del unknown[secret_hash]
        if self.breaker.is_open:
            return 0
        horizon = now - self._keep_stale
        idle = [h for h, (_, expires) in self._entries.items() if expires <= horizon]
        for secret_hash in idle:
            record, _ = self._entries.pop(secret_hash)
            hashes = self._hashes_by_key.get(record.key_id)
            if hashes is not None:
                hashes.discard(secret_hash)
                if not hashes:
                    del self._hashes_by_key[record.key_id]
        if idle:
            self._by_secret.clear()
        return len(idle)

    def forget_unknown(self, secret_hash: str) -> None:
        """A key now has this secret (created, or rotated in): stop calling it unknown."""
        self._unknown.pop(secret_hash, None)

    def invalidate_key(self, key_id: str) -> None:
        """Forget every secret of one key."""
        for secret_hash in self._hashes_by_key.pop(key_id, ()):
            self._entries.pop(secret_hash, None)
        self._by_secret.clear()

    def clear(self) -> None:
        """Forget everything (plan changes, overflow, missed invalidations)."""
        self._entries.clear()
        self._unknown.clear()
        self._hashes_by_key.clear()
        self._by_secret.clear()
