from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import AdminOnly, DbSession, Now
from app.models import Pool, TrackingNumber
from app.numbers import service
from app.numbers.deps import Store
from app.numbers.schemas import (
    PoolCreate,
    PoolList,
    PoolOut,
    PoolUpdate,
    StaticNumberCreate,
    StaticNumberList,
    StaticNumberOut,
    StaticNumberUpdate,
)
from app.sites import service as sites_service
from numberpool import service as pool_service

router = APIRouter(prefix="/api/v1/sites/{site_id}", tags=["numbers"], dependencies=[AdminOnly])


async def _pools_out(db: AsyncSession, pools: list[Pool]) -> list[PoolOut]:
    numbers = await service.pool_numbers(db, pools)
    targets = await service.target_numbers(db, [pool.target_number_id for pool in pools])
    return [
        PoolOut(
            id=pool.id,
            site_id=pool.site_id,
            target_number=targets[pool.target_number_id],
            numbers=numbers[pool.id],
            idle_timeout_s=pool.idle_timeout_s,
            cooldown_s=pool.cooldown_s,
            max_lease_s=pool.max_lease_s,
            late_call_window_s=pool.late_call_window_s,
            created_at=pool.created_at,
            retired_at=pool.retired_at,
        )
        for pool in pools
    ]


async def _static_out(db: AsyncSession, rows: list[TrackingNumber]) -> list[StaticNumberOut]:
    targets = await service.target_numbers(db, [row.target_number_id for row in rows])
    return [
        StaticNumberOut(
            id=row.id,
            site_id=row.site_id,
            number=row.number,
            kind=row.kind,
            target_number=targets.get(row.target_number_id) if row.target_number_id else None,
            source=row.source,
            medium=row.medium,
            campaign=row.campaign,
            created_at=row.created_at,
            retired_at=row.retired_at,
        )
        for row in rows
    ]


@router.post("/pools", status_code=status.HTTP_201_CREATED, response_model=PoolOut)
async def create_pool(site_id: uuid.UUID, data: PoolCreate, db: DbSession, now: Now) -> PoolOut:
    site = await sites_service.get_active_site(db, site_id)
    pool = await service.create_pool(db, site, data, now=now)
    return (await _pools_out(db, [pool]))[0]


@router.get("/pools", response_model=PoolList)
async def list_pools(site_id: uuid.UUID, db: DbSession, include_retired: bool = False) -> PoolList:
    await sites_service.get_site(db, site_id)
    pools = await service.list_pools(db, site_id=site_id, include_retired=include_retired)
    return PoolList(items=await _pools_out(db, pools))


@router.get("/pools/{pool_id}", response_model=PoolOut)
async def get_pool(site_id: uuid.UUID, pool_id: uuid.UUID, db: DbSession) -> PoolOut:
    pool = await service.get_pool(db, site_id=site_id, pool_id=pool_id)
    return (await _pools_out(db, [pool]))[0]


@router.patch("/pools/{pool_id}", response_model=PoolOut)
async def update_pool(
    site_id: uuid.UUID, pool_id: uuid.UUID, data: PoolUpdate, db: DbSession, store: Store, now: Now
) -> PoolOut:
    site = await sites_service.get_active_site(db, site_id)
    pool = await service.update_pool(db, site, pool_id, data, now=now)
    # The store must see the committed numbers and settings before it leases again.
    await db.commit()
    await pool_service.refresh_pool(db, store, pool=pool, now=now)
    return (await _pools_out(db, [pool]))[0]


@router.delete("/pools/{pool_id}", response_model=PoolOut)
async def retire_pool(
    site_id: uuid.UUID, pool_id: uuid.UUID, db: DbSession, store: Store, now: Now
) -> PoolOut:
    pool = await service.retire_pool(db, site_id=site_id, pool_id=pool_id, now=now)
    await db.commit()
    await store.drop(str(pool.id))
    return (await _pools_out(db, [pool]))[0]


@router.post("/static-numbers", status_code=status.HTTP_201_CREATED, response_model=StaticNumberOut)
async def create_static_number(
    site_id: uuid.UUID, data: StaticNumberCreate, db: DbSession, now: Now
) -> StaticNumberOut:
    site = await sites_service.get_active_site(db, site_id)
    row = await service.create_static_number(db, site, data, now=now)
    return (await _static_out(db, [row]))[0]


@router.get("/static-numbers", response_model=StaticNumberList)
async def list_static_numbers(
    site_id: uuid.UUID, db: DbSession, include_retired: bool = False
) -> StaticNumberList:
    await sites_service.get_site(db, site_id)
    rows = await service.list_static_numbers(db, site_id=site_id, include_retired=include_retired)
    return StaticNumberList(items=await _static_out(db, rows))


@router.get("/static-numbers/{number_id}", response_model=StaticNumberOut)
async def get_static_number(
    site_id: uuid.UUID, number_id: uuid.UUID, db: DbSession
) -> StaticNumberOut:
    row = await service.get_static_number(db, site_id=site_id, number_id=number_id)
    return (await _static_out(db, [row]))[0]


@router.patch("/static-numbers/{number_id}", response_model=StaticNumberOut)
async def update_static_number(
    site_id: uuid.UUID, number_id: uuid.UUID, data: StaticNumberUpdate, db: DbSession
) -> StaticNumberOut:
    row = await service.update_static_number(db, site_id=site_id, number_id=number_id, data=data)
    return (await _static_out(db, [row]))[0]


@router.delete("/static-numbers/{number_id}", response_model=StaticNumberOut)
async def retire_static_number(
    site_id: uuid.UUID, number_id: uuid.UUID, db: DbSession, now: Now
) -> StaticNumberOut:
    row = await service.retire_static_number(db, site_id=site_id, number_id=number_id, now=now)
    return (await _static_out(db, [row]))[0]
