"""All SQL of the tracker: visitors, sessions, and the numbers a session may be shown."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import TrackingSession, Visitor

# Visits are the hottest writes of the service: plain table statements, built once, skip the
# ORM's unit of work (which cost more than the database itself did).
_VISITORS = cast(Table, Visitor.__table__)
_SESSIONS = cast(Table, TrackingSession.__table__)
_INSERT_VISITOR = insert(_VISITORS)
_INSERT_SESSION = insert(_SESSIONS)
_TOUCH_VISITOR = (
    update(_VISITORS)
    .where(_VISITORS.c.id == bindparam("b_id"), _VISITORS.c.site_id == bindparam("b_site_id"))
    .values(last_seen_at=bindparam("b_now"))
    .returning(_VISITORS.c.id)
)


async def insert_visitor(
    db: AsyncSession, *, site_id: uuid.UUID, visitor_id: uuid.UUID, now: datetime
) -> None:
    connection = await db.connection()
    values = {"id": visitor_id, "site_id": site_id, "created_at": now, "last_seen_at": now}
    await connection.execute(_INSERT_VISITOR, values)


async def touch_visitor(
    db: AsyncSession, *, site_id: uuid.UUID, visitor_id: uuid.UUID, now: datetime
) -> bool:
    """Mark a visitor of this site as seen now; False if the site has no such visitor."""
    connection = await db.connection()
    found = await connection.execute(
        _TOUCH_VISITOR, {"b_id": visitor_id, "b_site_id": site_id, "b_now": now}
    )
    return found.first() is not None


async def insert_session(db: AsyncSession, values: dict[str, object]) -> None:
    connection = await db.connection()
    await connection.execute(_INSERT_SESSION, values)


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
