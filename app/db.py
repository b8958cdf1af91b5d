"""The database engine and sessions; one commit per request or job, at its boundary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
        # Opened as needed and then kept: an overflow connection is closed when returned, and
        # with a 20 + 10 pool the tracker benchmark's 32 requests in flight reopened one every
        # 80 requests, each costing a PostgreSQL process, a TLS attempt and a type
        # introspection (7 % of the server's time). Requests beyond 40 in flight wait for one;
        # PostgreSQL's max_connections must cover 40 per process (README, "Production").
        kwargs["pool_size"] = 40
        kwargs["max_overflow"] = 0
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


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session that commits when the unit of work succeeds and rolls back when it fails."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
