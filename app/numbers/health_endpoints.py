"""Admin endpoints of a pool's health (the engine's figures: numberpool.health)."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter, Query

from app.deps import AdminOnly, DbSession, Now
from app.exceptions import NotFound
from app.numbers.deps import Store
from app.numbers.health_schemas import PoolHealthOut
from numberpool import repository, service

router = APIRouter(prefix="/api/v1/sites/{site_id}/pools", tags=["pools"], dependencies=[AdminOnly])


class PoolNotFound(NotFound):
    pass


@router.get("/{pool_id}/health", response_model=PoolHealthOut)
async def pool_health(
    site_id: uuid.UUID,
    pool_id: uuid.UUID,
    db: DbSession,
    store: Store,
    now: Now,
    hours: int = Query(24, ge=1, le=24 * 92, description="window, in hours up to now"),
) -> PoolHealthOut:
    """Size, numbers in use now and at peak, sessions and fallbacks over the window, and the
    size the busiest hour of that traffic calls for."""
    pool = await repository.pool_of_site(db, site_id=site_id, pool_id=pool_id)
    if pool is None:
        raise PoolNotFound(f"pool {pool_id} not found on site {site_id}")
    health = await service.pool_health(db, store, pool=pool, now=now, hours=hours)
    return PoolHealthOut(**asdict(health))
