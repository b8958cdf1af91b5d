"""Periodic upkeep each API process runs: closing the log rows of leases that expired in pools
nobody asked for a number since (so the log, the health figures and reports stay exact)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.clock import Clock
from numberpool import repository as pool_repository
from numberpool import service as pool_service
from numberpool.store import PoolStore, StoreUnavailable

log = logging.getLogger(__name__)


async def close_expired_leases(
    sessionmaker: async_sessionmaker[AsyncSession], store: PoolStore, *, clock: Clock
) -> int:
    closed = 0
    async with sessionmaker() as db:
        for pool in await pool_repository.live_pools(db):
            try:
                closed += await pool_service.close_expired(db, store, pool=pool, now=clock())
            except StoreUnavailable:
                continue  # the next round, or the next lease, closes them
        await db.commit()
    return closed


async def run_housekeeping(
    sessionmaker: async_sessionmaker[AsyncSession],
    store: PoolStore,
    *,
    clock: Clock,
    stop_event: asyncio.Event,
    interval_s: float = 60,
) -> None:
    while not stop_event.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), timeout=interval_s)
        if stop_event.is_set():
            return
        try:
            await close_expired_leases(sessionmaker, store, clock=clock)
        except Exception:
            # Upkeep must never take the API down; the next round tries again.
            log.exception("housekeeping round failed")
