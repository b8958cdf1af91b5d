from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud import SiteScopedRepository
from app.models import PbxEvent, PbxIntegration

INTEGRATIONS = SiteScopedRepository(PbxIntegration, noun="PBX integration")


async def unprocessed_event_ids(
    db: AsyncSession, *, since: datetime | None, integration_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """Stored events never folded into their calls, in the order they were received.

    Whether or not an error was recorded: a database outage between storing and processing
    leaves none.
    """
    query = (
        select(PbxEvent.id)
        .where(PbxEvent.processed_at.is_(None))
        .order_by(PbxEvent.received_at, PbxEvent.id)
    )
    if since is not None:
        query = query.where(PbxEvent.received_at >= since)
    if integration_id is not None:
        query = query.where(PbxEvent.integration_id == integration_id)
    return list((await db.execute(query)).scalars())


async def record_event_error(db: AsyncSession, event_id: uuid.UUID, error: str) -> None:
    await db.execute(update(PbxEvent).where(PbxEvent.id == event_id).values(error=error[:2000]))


async def recent_events(
    db: AsyncSession, *, integration_id: uuid.UUID, limit: int = 20
) -> list[PbxEvent]:
    """The integration's newest stored events, newest first (read models of the dashboard)."""
    query = (
        select(PbxEvent)
        .where(PbxEvent.integration_id == integration_id)
        .order_by(PbxEvent.received_at.desc(), PbxEvent.id.desc())
        .limit(limit)
    )
    return list((await db.execute(query)).scalars())
