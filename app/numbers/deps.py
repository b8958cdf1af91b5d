"""The pool store of the running app, as a FastAPI dependency (app.deps.Store)."""

from __future__ import annotations

from app.deps import Store, get_pool_store

__all__ = ["Store", "get_pool_store"]
