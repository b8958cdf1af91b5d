"""All SQL of ad costs: an upsert by (site, day, source, medium, campaign) and the listing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.costs.parsing import CostRow
from app.kit import dialect
from app.models import AdCost

# Eight values a row: 500 rows stay well under both backends' bound-parameter limits.
_CHUNK = 500
_KEY = ["site_id", "day", "source", "medium", "campaign"]


async def existing_keys(
    db: AsyncSession, *, site_id: uuid.UUID, first_day: date, last_day: date
) -> set[tuple[date, str, str, str]]:
    query = select(AdCost.day, AdCost.source, AdCost.medium, AdCost.campaign).where(
        AdCost.site_id == site_id, AdCost.day >= first_day, AdCost.day <= last_day
    )
    return {(d, s, m, c) for d, s, m, c in (await db.execute(query)).all()}


async def upsert(
    db: AsyncSession, *, site_id: uuid.UUID, rows: Sequence[CostRow], now: datetime
) -> None:
    """Insert the rows; a row whose key is stored already replaces its cost and currency."""
    for start in range(0, len(rows), _CHUNK):
        values = [
            {
                "id": uuid.uuid4(),
                "site_id": site_id,
                "day": row.day,
                "source": row.source,
                "medium": row.medium,
                "campaign": row.campaign,
                "cost": row.cost,
                "currency": row.currency,
                "created_at": now,
            }
            for row in rows[start : start + _CHUNK]
        ]
        statement = dialect.insert_on_conflict(db, AdCost).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=_KEY,
            set_={"cost": statement.excluded.cost, "currency": statement.excluded.currency},
        )
        await db.execute(statement)


async def costs(
    db: AsyncSession, *, site_id: uuid.UUID, first_day: date, last_day: date
) -> list[AdCost]:
    query = (
        select(AdCost)
        .where(AdCost.site_id == site_id, AdCost.day >= first_day, AdCost.day <= last_day)
        .order_by(AdCost.day, AdCost.source, AdCost.medium, AdCost.campaign)
    )
    return list((await db.execute(query)).scalars())
