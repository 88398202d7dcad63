"""A transaction whose BEGIN is cancelled gives back what it took: later transactions still
run on SQLite (one transaction lock) and PostgreSQL (a pool that keeps its connections)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tortoise.backends.asyncpg.client import TransactionWrapper
from tortoise.backends.sqlite.client import SqliteTransactionWrapper
from tortoise.transactions import in_transaction

from tests.conftest import LiveServer
from tollway.models import Tenant
from tollway.sql import connection


async def test_a_cancelled_begin_leaves_transactions_working(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrapper: Any = TransactionWrapper if server.settings.is_postgres else SqliteTransactionWrapper
    began = asyncio.Event()
    original = wrapper.begin

    async def slow_begin(self: Any) -> None:
        began.set()
        await asyncio.sleep(30)

    pool = getattr(connection(), "_pool", None)
    idle = pool.get_idle_size() if pool is not None else None
    monkeypatch.setattr(wrapper, "begin", slow_begin)

    async def transact() -> None:
        async with in_transaction():
            await Tenant.exists()

    stuck = asyncio.create_task(transact())
    await asyncio.wait_for(began.wait(), 5)
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    monkeypatch.setattr(wrapper, "begin", original)
    await asyncio.wait_for(transact(), 5)  # the lock (or connection) came back
    if pool is not None:
        assert pool.get_idle_size() >= (idle or 0)
