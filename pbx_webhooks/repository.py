from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PbxIntegration


async def integrations(
    db: AsyncSession, *, site_id: uuid.UUID, include_retired: bool
) -> list[PbxIntegration]:
    query = (
        select(PbxIntegration)
        .where(PbxIntegration.site_id == site_id)
        .order_by(PbxIntegration.created_at, PbxIntegration.id)
    )
    if not include_retired:
        query = query.where(PbxIntegration.retired_at.is_(None))
    return list((await db.execute(query)).scalars())
