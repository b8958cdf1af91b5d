"""The pool store of a process: Redis when CALLSOURCE_REDIS_URL is set, else the embedded one."""

from __future__ import annotations

from numberpool.embedded_store import EmbeddedStore
from numberpool.redis_store import RedisStore
from numberpool.store import PoolStore


def create_store(redis_url: str) -> PoolStore:
    """The store for `redis_url`; "" means the embedded, in-process store (one process only)."""
    if not redis_url:
        return EmbeddedStore()
    return RedisStore(redis_url)
