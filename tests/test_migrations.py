"""Migrations: in step with the models, and applying cleanly to empty databases."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg

from tests.processes import run_tollway
from tests.servers import PostgresServer

TABLES = {"tenants", "audit_entries", "worker_heartbeats"}


def test_models_and_migrations_agree() -> None:
    result = run_tollway("makemigrations", "--check")
    assert result.returncode == 0, f"models changed without a migration: {result.stdout}"


def test_migrations_apply_to_empty_sqlite(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/fresh.db"
    for _ in range(2):  # the second run is a no-op
        result = run_tollway("migrate", database_url=url)
        assert result.returncode == 0, result.stderr
    rows = (
        sqlite3.connect(tmp_path / "fresh.db").execute("select name from sqlite_master").fetchall()
    )
    assert {name for (name,) in rows} >= TABLES


def test_migrations_apply_to_empty_postgres(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    for _ in range(2):
        result = run_tollway("migrate", database_url=url)
        assert result.returncode == 0, result.stderr

    async def tables() -> set[str]:
        conn = await asyncpg.connect(url.replace("postgres://", "postgresql://"))
        try:
            rows = await conn.fetch("select tablename from pg_tables where schemaname = 'public'")
        finally:
            await conn.close()
        return {row["tablename"] for row in rows}

    assert asyncio.run(tables()) >= TABLES


def test_model_docstrings_survive_the_migration_runner() -> None:
    """Docstrings become table and column comments in the migration SQL, which the runner
    splits into statements at every `;`."""
    import inspect

    from tortoise.models import Model

    import tollway.models

    found = []
    for name, model in vars(tollway.models).items():
        if not (inspect.isclass(model) and issubclass(model, Model)):
            continue
        if ";" in (model._meta.table_description or ""):
            found.append(name)
        for field_name, field in model._meta.fields_map.items():
            if ";" in (field.description or ""):
                found.append(f"{name}.{field_name}")
    assert found == []
