"""All SQL of the tracker: visitors, sessions, and the numbers a session may be shown."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Pool, TargetNumber, TrackingNumber, TrackingSession, Visitor


async def visitor(db: AsyncSession, *, site_id: uuid.UUID, visitor_id: uuid.UUID) -> Visitor | None:
    row = await db.get(Visitor, visitor_id)
    return row if row is not None and row.site_id == site_id else None


async def session(
    db: AsyncSession, *, site_id: uuid.UUID, session_id: uuid.UUID
) -> TrackingSession | None:
    row = await db.get(TrackingSession, session_id)
    return row if row is not None and row.site_id == site_id else None


async def latest_session(
    db: AsyncSession, *, visitor_id: uuid.UUID, seen_since: datetime
) -> TrackingSession | None:
    query = (
        select(TrackingSession)
        .where(
            TrackingSession.visitor_id == visitor_id,
            TrackingSession.last_seen_at >= seen_since,
            TrackingSession.ended_at.is_(None),
        )
        .order_by(TrackingSession.last_seen_at.desc())
        .limit(1)
    )
    return (await db.execute(query)).scalar_one_or_none()


async def last_non_direct_session(
    db: AsyncSession, *, visitor_id: uuid.UUID, since: datetime
) -> TrackingSession | None:
    query = (
        select(TrackingSession)
        .where(
            TrackingSession.visitor_id == visitor_id,
            TrackingSession.started_at >= since,
            TrackingSession.source != "(direct)",
        )
        .order_by(TrackingSession.started_at.desc())
        .limit(1)
    )
    return (await db.execute(query)).scalar_one_or_none()


async def targets_and_pools(
    db: AsyncSession, *, site_id: uuid.UUID
) -> list[tuple[TargetNumber, Pool | None]]:
    """Every target number of the site with its live pool, if it has one."""
    query = (
        select(TargetNumber, Pool)
        .outerjoin(Pool, (Pool.target_number_id == TargetNumber.id) & Pool.retired_at.is_(None))
        .where(TargetNumber.site_id == site_id)
        .order_by(TargetNumber.created_at, TargetNumber.number)
    )
    return [(target, pool) for target, pool in await db.execute(query)]


async def source_numbers(db: AsyncSession, *, site_id: uuid.UUID) -> list[TrackingNumber]:
    query = select(TrackingNumber).where(
        TrackingNumber.site_id == site_id,
        TrackingNumber.kind == "source",
        TrackingNumber.retired_at.is_(None),
    )
    return list((await db.execute(query)).scalars())
