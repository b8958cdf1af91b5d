"""The database engine and sessions; one commit per request or job, at its boundary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.kit import dialect


def create_engine(database_url: str) -> AsyncEngine:
    # No pool_pre_ping: its extra round trip on every checkout cost more than the tracker's own
    # statements. A connection PostgreSQL dropped fails one request; SQLAlchemy then treats it
    # as a disconnect and replaces every pooled connection opened before it.
    engine = create_async_engine(database_url, **dialect.engine_options(database_url))
    dialect.prepare_connections(engine)
    return engine


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
