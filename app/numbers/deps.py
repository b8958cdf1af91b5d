"""The pool store of the running app, as a FastAPI dependency (app.main puts it on app.state)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from numberpool.store import PoolStore


async def get_pool_store(request: Request) -> PoolStore:
    store: PoolStore = request.app.state.pool_store
    return store


Store = Annotated[PoolStore, Depends(get_pool_store)]
