"""The migrations build the schema the models describe, up and down, on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

import app.models
from app import migrations
from app.db import create_engine


async def _table_names(url: str) -> set[str]:
    engine = create_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names


@pytest.fixture
def empty_database_url(database_url: str, tmp_path: Path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    # The shared PostgreSQL test database is migrated: take it down to nothing first.
    migrations.downgrade(database_url, "base")
    return database_url


def test_upgrade_downgrade_upgrade_and_models_agree(empty_database_url: str) -> None:
    url = empty_database_url
    model_tables = set(app.models.Base.metadata.tables)

    migrations.upgrade(url)
    assert model_tables <= asyncio.run(_table_names(url))
    # Raises when autogenerate would find any difference between models and schema.
    command.check(migrations.alembic_config(url))

    migrations.downgrade(url, "base")
    assert asyncio.run(_table_names(url)) <= {"alembic_version"}

    migrations.upgrade(url)
    command.check(migrations.alembic_config(url))
