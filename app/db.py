"""The database engine and sessions; one commit per request or job, at its boundary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(database_url: str) -> AsyncEngine:
    kwargs: dict[str, Any] = {}
    if database_url.startswith("sqlite"):
        # One writer at a time: wait for the lock instead of failing with "database is locked".
        kwargs["connect_args"] = {"timeout": 30}
    else:
        # Connections beyond pool_size are closed when returned, and a new one costs PostgreSQL
        # a process: size the pool for the concurrency one server process sees at peak.
        kwargs["pool_size"] = 20
        kwargs["max_overflow"] = 10
    # No pool_pre_ping: its extra round trip on every checkout cost more than the tracker's own
    # statements. A connection PostgreSQL dropped fails one request; SQLAlchemy then treats it
    # as a disconnect and replaces every pooled connection opened before it.
    engine = create_async_engine(database_url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session that commits when the unit of work succeeds and rolls back when it fails."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
