"""Request-scoped dependencies: the database session (one commit per request) and shared state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.security import require_admin


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """Commits when the endpoint returns, before the response is sent; rolls back on any error."""
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def get_settings_from_app(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# "function" scope: the commit happens before the response, so a 201 means it is stored.
DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings_from_app)]
AdminOnly = Depends(require_admin)


# Every dependency is async: FastAPI runs a plain `def` one in a thread pool, a hop that costs
# more than these lookups themselves.
async def get_now(request: Request) -> datetime:
    """The request's `now`, from the app's clock (tests inject their own)."""
    now: datetime = request.app.state.clock()
    return now


Now = Annotated[datetime, Depends(get_now)]
