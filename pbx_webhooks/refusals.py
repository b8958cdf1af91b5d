"""The last webhooks refused for their signature, per integration, so a wrong secret is
visible on the dashboard without reading logs.

Bounded: only the newest KEPT of an integration stay, and only the reason and the time (the
body of a request we could not authenticate is not ours to keep).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import PbxRefusal

KEPT: Final = 20


async def record(
    engine: AsyncEngine, *, integration_id: uuid.UUID, reason: str, now: datetime
) -> None:
    """Keep this refusal and drop what falls beyond the newest KEPT, in one transaction."""
    async with engine.begin() as connection:
        await connection.execute(
            PbxRefusal.__table__.insert().values(  # type: ignore[attr-defined]
                id=uuid.uuid4(), integration_id=integration_id, received_at=now, reason=reason[:500]
            )
        )
        newest = (
            select(PbxRefusal.id)
            .where(PbxRefusal.integration_id == integration_id)
            .order_by(PbxRefusal.received_at.desc(), PbxRefusal.id.desc())
            .limit(KEPT)
        )
        await connection.execute(
            delete(PbxRefusal).where(
                PbxRefusal.integration_id == integration_id, PbxRefusal.id.not_in(newest)
            )
        )


async def recent(db: AsyncSession, *, integration_id: uuid.UUID) -> list[PbxRefusal]:
    query = (
        select(PbxRefusal)
        .where(PbxRefusal.integration_id == integration_id)
        .order_by(PbxRefusal.received_at.desc(), PbxRefusal.id.desc())
        .limit(KEPT)
    )
    return list((await db.execute(query)).scalars())
