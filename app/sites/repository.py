from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Pool, Site, TrackingNumber


async def get(db: AsyncSession, site_id: uuid.UUID) -> Site | None:
    return await db.get(Site, site_id)


async def get_by_public_key(db: AsyncSession, public_key: str) -> Site | None:
    result = await db.execute(select(Site).where(Site.public_key == public_key))
    return result.scalar_one_or_none()


async def list_sites(db: AsyncSession, *, include_retired: bool) -> list[Site]:
    query = select(Site).order_by(Site.created_at, Site.id)
    if not include_retired:
        query = query.where(Site.retired_at.is_(None))
    return list((await db.execute(query)).scalars())


async def get_by_name(db: AsyncSession, name: str) -> Site | None:
    query = select(Site).where(Site.name == name, Site.retired_at.is_(None)).limit(1)
    return (await db.execute(query)).scalar_one_or_none()


async def retire_numbers_of_site(db: AsyncSession, *, site_id: uuid.UUID, now: datetime) -> None:
    """A retired site's tracking numbers and pools retire with it (the site owns them; the
    numbers domain sits above sites, so the cascade lives here)."""
    await db.execute(
        update(TrackingNumber)
        .where(TrackingNumber.site_id == site_id, TrackingNumber.retired_at.is_(None))
        .values(retired_at=now)
    )
    await db.execute(
        update(Pool)
        .where(Pool.site_id == site_id, Pool.retired_at.is_(None))
        .values(retired_at=now)
    )
