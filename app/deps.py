"""Request-scoped dependencies: the database session (one commit per request) and the typed
pieces of the app's state (`AppState`, app/state.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.ratelimit import RateLimiter
from app.security import check_admin_token
from app.state import AppState, app_state
from numberpool.store import PoolStore

# Every dependency is async: FastAPI runs a plain `def` one in a thread pool, a hop that costs
# more than these lookups themselves.


async def get_state(request: Request) -> AppState:
    return app_state(request)


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """Commits when the endpoint returns, before the response is sent; rolls back on any error."""
    async with app_state(request).sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def get_settings_from_app(request: Request) -> Settings:
    return app_state(request).settings


async def get_now(request: Request) -> datetime:
    """The request's `now`, from the app's clock (tests inject their own)."""
    return app_state(request).clock()


async def get_pool_store(request: Request) -> PoolStore:
    return app_state(request).pool_store


async def get_rate_limiter(request: Request) -> RateLimiter:
    return app_state(request).rate_limiter


async def require_admin(request: Request) -> None:
    """Every admin endpoint: `Authorization: Bearer <admin token>`."""
    check_admin_token(request.headers.get("Authorization"), app_state(request).admin_token)


State = Annotated[AppState, Depends(get_state)]
# "function" scope: the commit happens before the response, so a 201 means it is stored.
DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings_from_app)]
Now = Annotated[datetime, Depends(get_now)]
Store = Annotated[PoolStore, Depends(get_pool_store)]
Limiter = Annotated[RateLimiter, Depends(get_rate_limiter)]
AdminOnly = Depends(require_admin)
