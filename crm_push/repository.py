from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CrmConnector


async def connectors(
    db: AsyncSession, *, site_id: uuid.UUID, include_retired: bool
) -> list[CrmConnector]:
    query = (
        select(CrmConnector)
        .where(CrmConnector.site_id == site_id)
        .order_by(CrmConnector.created_at, CrmConnector.id)
    )
    if not include_retired:
        query = query.where(CrmConnector.retired_at.is_(None))
    return list((await db.execute(query)).scalars())
