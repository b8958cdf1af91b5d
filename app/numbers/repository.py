"""All SQL about target numbers, tracking numbers and pools (but the cascade when a site
retires, which is app.sites.repository.retire_numbers_of_site)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.crud import SiteScopedRepository
from app.models import NumberKind, Pool, Site, TargetNumber, TrackingNumber

POOLS = SiteScopedRepository(Pool, noun="pool")
STATIC_NUMBERS = SiteScopedRepository(
    TrackingNumber,
    noun="static number",
    order_by=(TrackingNumber.created_at, TrackingNumber.number),
    where=TrackingNumber.kind.in_([NumberKind.SOURCE.value, NumberKind.OFFLINE.value]),
    belongs=lambda number: number.kind != NumberKind.DYNAMIC,
)


async def active_tracking_number(db: AsyncSession, number: str) -> TrackingNumber | None:
    query = select(TrackingNumber).where(
        TrackingNumber.number == number, TrackingNumber.retired_at.is_(None)
    )
    return (await db.execute(query)).scalar_one_or_none()


async def targets_with_number(db: AsyncSession, number: str) -> list[TargetNumber]:
    query = select(TargetNumber).where(TargetNumber.number == number)
    return list((await db.execute(query)).scalars())


async def target(db: AsyncSession, *, site_id: uuid.UUID, number: str) -> TargetNumber | None:
    query = select(TargetNumber).where(
        TargetNumber.site_id == site_id, TargetNumber.number == number
    )
    return (await db.execute(query)).scalar_one_or_none()


async def target_numbers_by_id(
    db: AsyncSession, ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    query = select(TargetNumber.id, TargetNumber.number).where(TargetNumber.id.in_(wanted))
    return {row.id: row.number for row in await db.execute(query)}


async def site_name(db: AsyncSession, site_id: uuid.UUID) -> str:
    name = await db.scalar(select(Site.name).where(Site.id == site_id))
    return name or str(site_id)


async def active_pool_for_target(db: AsyncSession, target_id: uuid.UUID) -> Pool | None:
    query = select(Pool).where(Pool.target_number_id == target_id, Pool.retired_at.is_(None))
    return (await db.execute(query)).scalar_one_or_none()


async def pool_numbers(db: AsyncSession, pool_ids: Iterable[uuid.UUID]) -> list[TrackingNumber]:
    """The active numbers of the given pools, in the order they were added."""
    query = (
        select(TrackingNumber)
        .where(TrackingNumber.pool_id.in_(list(pool_ids)), TrackingNumber.retired_at.is_(None))
        .order_by(TrackingNumber.created_at, TrackingNumber.number)
    )
    return list((await db.execute(query)).scalars())


async def same_source_rule(
    db: AsyncSession,
    *,
    target_id: uuid.UUID,
    source: str | None,
    medium: str | None,
    campaign: str | None,
) -> TrackingNumber | None:
    query = select(TrackingNumber).where(
        TrackingNumber.target_number_id == target_id,
        TrackingNumber.kind == "source",
        TrackingNumber.retired_at.is_(None),
        TrackingNumber.source == source,
        _equals_or_null(TrackingNumber.medium, medium),
        _equals_or_null(TrackingNumber.campaign, campaign),
    )
    return (await db.execute(query.limit(1))).scalar_one_or_none()


def _equals_or_null(
    column: InstrumentedAttribute[str | None], value: str | None
) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value
