"""Tortoise configuration, connection lifecycle and migrations."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.migrations.api.migrate import migrate as tortoise_migrate

from tollway import tortoise_fixes
from tollway.errors import ConfigurationError, ServiceUnavailable
from tollway.settings import Settings, describe_address

tortoise_fixes.apply()

APP_LABEL = "tollway"
MIGRATIONS_MODULE = "tollway.migrations"


async def keep_session(connection: object) -> None:
    """Return a PostgreSQL connection to the pool as it is.

    asyncpg's default reset sends `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL` after every query run outside a transaction: four statements for each one Tortoise
    sends. Tollway keeps no session state (its advisory locks are transaction-scoped, it
    never LISTENs, SETs or holds cursors), and asyncpg still rolls back a transaction left
    open before calling this."""


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise config dict for one database URL."""
    connection: str | dict[str, Any] = database_url
    if database_url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        connection = expand_db_url(database_url)
        connection["credentials"]["reset"] = keep_session
    return {
        "connections": {"default": connection},
        "apps": {
            APP_LABEL: {
                "models": ["tollway.models"],
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _unreachable(settings: Settings, exc: BaseException) -> ConfigurationError:
    kind = "PostgreSQL" if settings.is_postgres else "SQLite"
    detail = str(exc).strip() or type(exc).__name__
    return ConfigurationError(
        f"TOLLWAY_DATABASE_URL: cannot reach {kind} at "
        f"{describe_address(settings.database_url)} ({detail})"
    )


async def open_database(settings: Settings) -> None:
    """Initialise Tortoise for the whole process and prove the database answers."""
    global _closed
    _closed = False
    try:
        await Tortoise.init(
            config=tortoise_config(settings.database_url), _enable_global_fallback=True
        )
    except Exception as exc:
        raise _unreachable(settings, exc) from exc
    try:
        await ping_database(max(settings.dependency_timeout_seconds, 5.0))
    except ServiceUnavailable as exc:
        await close_database()
        raise _unreachable(settings, exc.__cause__ or exc) from exc


_shared_users = 0
_shared_owner = False
_closed = False


async def acquire_database(settings: Settings) -> None:
    """Open the process-wide database on first use (the admin app and the middleware share it)."""
    global _shared_users, _shared_owner
    # Tortoise still reports itself initialised after its connections are closed, so a
    # database this module closed is reopened too (the next user after a full release).
    if _shared_users == 0 and (_closed or not Tortoise.is_inited()):
        await open_database(settings)
        _shared_owner = True
    _shared_users += 1


async def release_database() -> None:
    """Close the process-wide database when its last user lets go."""
    global _shared_users, _shared_owner
    _shared_users = max(0, _shared_users - 1)
    if _shared_users == 0 and _shared_owner:
        _shared_owner = False
        await close_database()


async def close_database() -> None:
    """Close every connection Tortoise holds and forget the SQL compiled for them."""
    global _closed
    _closed = True
    await Tortoise.close_connections()
    # Tortoise caches compiled SQL per (connection name, table), not per dialect: without
    # this, reopening "default" on another database (SQLite, then PostgreSQL) reuses the
    # first dialect's placeholders.
    EXECUTOR_CACHE.clear()


async def ping_database(limit_seconds: float) -> float:
    """Round-trip `SELECT 1`; returns the latency in ms or raises ServiceUnavailable."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit_seconds):
            await connections.get("default").execute_query("SELECT 1")
    except Exception as exc:
        raise ServiceUnavailable("database unreachable") from exc
    return (time.perf_counter() - started) * 1000


async def migrate(settings: Settings) -> None:
    """Apply every pending migration to `settings.database_url`."""
    try:
        await tortoise_migrate(config=tortoise_config(settings.database_url))
    except OSError as exc:
        raise _unreachable(settings, exc) from exc
    finally:
        await Tortoise.close_connections()


async def pending_model_changes() -> list[Any]:
    """Migration writers for model changes no migration file covers yet (empty when in sync)."""
    from tortoise.context import TortoiseContext
    from tortoise.migrations.autodetector import MigrationAutodetector

    config = tortoise_config("sqlite://:memory:")
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        assert ctx.apps is not None
        writers: list[Any] = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
    return writers


async def make_migrations(name: str | None = None) -> list[str]:
    """Write migration files for pending model changes; returns their paths."""
    from tortoise.migrations.writer import format_migration_name

    paths = []
    for writer in await pending_model_changes():
        if name:
            number = int(writer.name.split("_", 1)[0])
            writer.name = format_migration_name(number, name)
        paths.append(str(writer.write()))
    return paths
