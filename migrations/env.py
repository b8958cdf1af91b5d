"""Alembic environment: the URL comes from CALLSOURCE_DATABASE_URL unless a caller passes one."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import app.models
from app.config import get_settings
from app.db import create_engine
from app.partitions import is_partition_name

target_metadata = app.models.Base.metadata


def _include_name(name: str | None, type_: str, _parents: dict[str, str | None]) -> bool:
    """Leave the monthly partitions out of autogenerate: they are not models, their parents
    are (`calls_p2026_12` of `calls`, app/partitions.py)."""
    return not (type_ == "table" and name is not None and is_partition_name(name))


def _configure(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        # Batch mode copies a table and drops the old one; with foreign keys on (every
        # connection of ours turns them on) that DROP deletes the rows of every table whose
        # foreign key cascades from it: all of a site's data for a change to `sites`. The
        # pragma is ignored inside a transaction, so it goes first, on its own.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
    finally:  # a migration that refuses must not leave its connection open
        await engine.dispose()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or get_settings().database_url
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them against a database")
run_migrations_online()
