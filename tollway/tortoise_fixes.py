"""A fix to Tortoise ORM 1.1's transactions, applied once by `tollway.db`.

Entering `in_transaction()` takes a resource (SQLite: the connection's transaction lock; a
pool: a connection) and then sends BEGIN. A task cancelled during that BEGIN (a worker
stopping, a client going away) leaves `__aenter__` without `__aexit__` ever running, so the
resource is never given back: on SQLite every later transaction waits forever, and a pool
loses a connection each time. Here the resource is given back whenever entering fails.
"""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import TransactionContextPooled
from tortoise.backends.sqlite.client import SqliteTransactionContext
from tortoise.connection import get_connections

_applied = False


async def _sqlite_enter(self: Any) -> Any:
    await self._trxlock.acquire()
    token = None
    try:
        await self.ensure_connection()
        token = get_connections().set(self.connection_name, self.connection)
        await self.connection.begin()
    except BaseException:
        if token is not None:
            get_connections().reset(token)
        self._trxlock.release()
        raise
    self.token = token
    return self.connection


async def _pooled_enter(self: Any) -> Any:
    await self.ensure_connection()
    self.client._connection = await self.client._parent._pool.acquire()
    token = None
    try:
        token = get_connections().set(self.connection_name, self.client)
        await self.client.begin()
    except BaseException:
        if token is not None:
            get_connections().reset(token)
        await self.client._parent._pool.release(self.client._connection)
        raise
    self.token = token
    return self.client


def apply() -> None:
    """Install the fix (idempotent)."""
    global _applied
    if not _applied:
        SqliteTransactionContext.__aenter__ = _sqlite_enter  # type: ignore[method-assign]
        TransactionContextPooled.__aenter__ = _pooled_enter  # type: ignore[method-assign]
        _applied = True
