"""All SQL of ad costs: uploads upserted by (site, day, source, medium, campaign, term), the
imports of an ad account replacing its days, and the listing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.costs.parsing import CostRow, ImportedRow
from app.kit import dialect
from app.models import AdCost

# Up to twelve values a row: 500 rows stay well under both backends' bound-parameter limits.
_CHUNK = 500
_KEY = ["site_id", "day", "source", "medium", "campaign", "term"]


async def existing_keys(
    db: AsyncSession, *, site_id: uuid.UUID, first_day: date, last_day: date
) -> set[tuple[date, str, str, str, str]]:
    """The keys of the uploaded rows (not the imported ones) of those days."""
    query = select(AdCost.day, AdCost.source, AdCost.medium, AdCost.campaign, AdCost.term).where(
        AdCost.site_id == site_id,
        AdCost.day >= first_day,
        AdCost.day <= last_day,
        AdCost.account_id.is_(None),
    )
    return {(d, s, m, c, t) for d, s, m, c, t in (await db.execute(query)).all()}


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
                "term": row.term,
                "platform_campaign": "",
                "cost": row.cost,
                "currency": row.currency,
                "created_at": now,
            }
            for row in rows[start : start + _CHUNK]
        ]
        statement = dialect.insert_on_conflict(db, AdCost).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=_KEY,
            index_where=AdCost.account_id.is_(None),
            set_={"cost": statement.excluded.cost, "currency": statement.excluded.currency},
        )
        await db.execute(statement)


async def costs(
    db: AsyncSession, *, site_id: uuid.UUID, first_day: date, last_day: date
) -> list[AdCost]:
    query = (
        select(AdCost)
        .where(AdCost.site_id == site_id, AdCost.day >= first_day, AdCost.day <= last_day)
        .order_by(AdCost.day, AdCost.source, AdCost.medium, AdCost.campaign, AdCost.term)
    )
    return list((await db.execute(query)).scalars())


async def replace_account_days(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    account_id: uuid.UUID,
    first_day: date,
    last_day: date,
    rows: Sequence[ImportedRow],
    now: datetime,
    replaces: Sequence[uuid.UUID] = (),
) -> None:
    """The account's rows of the days [first_day, last_day] become `rows`: a day imported
    again replaces its figures, and a day the platform now reports nothing for is emptied.
    The rows of `replaces` (earlier connections of the same platform account) of those days
    go too, so connecting an account again does not count its days twice."""
    await db.execute(
        delete(AdCost).where(
            AdCost.account_id.in_([account_id, *replaces]),
            AdCost.day >= first_day,
            AdCost.day <= last_day,
        )
    )
    for start in range(0, len(rows), _CHUNK):
        values = [
            {
                "id": uuid.uuid4(),
                "site_id": site_id,
                "account_id": account_id,
                "day": row.day,
                "source": row.source,
                "medium": row.medium,
                "campaign": row.campaign,
                "platform_campaign": row.platform_campaign,
                "term": row.term,
                "cost": row.cost,
                "currency": row.currency,
                "created_at": now,
            }
            for row in rows[start : start + _CHUNK]
        ]
        await db.execute(insert(AdCost).values(values))


async def rename_campaign(
    db: AsyncSession, *, account_id: uuid.UUID, platform_campaign: str, campaign: str
) -> None:
    """Book the account's stored spend of a platform campaign under another utm_campaign."""
    await db.execute(
        update(AdCost)
        .where(AdCost.account_id == account_id, AdCost.platform_campaign == platform_campaign)
        .values(campaign=campaign)
    )
