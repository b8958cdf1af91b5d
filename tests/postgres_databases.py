"""A PostgreSQL database of a test's own on the test server, dropped afterwards."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import make_url, text

from app.db import create_engine
from tests.backends import TEST_POSTGRES_URL


@contextmanager
def fresh_postgres_database(prefix: str = "callsource_test") -> Iterator[str]:
    """The URL of a new, empty database (no migrations applied)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_url = make_url(TEST_POSTGRES_URL)
    admin = admin_url.render_as_string(hide_password=False)
    asyncio.run(_autocommit(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_autocommit(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _autocommit(url: str, statement: str) -> None:
    engine = create_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()
