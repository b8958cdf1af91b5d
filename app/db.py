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
    """A session that commits when the unit of work succeeds and rolls back when it fails.

    A session the work never used is neither committed nor closed: on an idle session both
    begin and end an empty transaction, 90 us together, and most tracker requests (a known
    site, a new visit written on a connection of its own) never touch theirs."""
    session = factory()
    try:
        yield session
        if _used(session):
            await session.commit()
    except BaseException:
        if _used(session):
            await session.rollback()
        raise
    finally:
        if _used(session):
            await session.close()


def _used(session: AsyncSession) -> bool:
    """Whether `session` holds anything to end: a transaction, or objects (even unflushed)."""
    return (
        session.in_transaction()
        or bool(session.sync_session.identity_map)
        or bool(session.new or session.deleted)
    )
