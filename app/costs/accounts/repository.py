"""All SQL of ad accounts and their campaign mappings (the cost rows are app.costs.repository's)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud import SiteScopedRepository
from app.exceptions import NotFound
from app.models import AdAccount, AdCampaignMapping

ACCOUNTS = SiteScopedRepository(AdAccount, noun="ad account")


async def mappings(db: AsyncSession, *, account_id: uuid.UUID) -> list[AdCampaignMapping]:
    query = (
        select(AdCampaignMapping)
        .where(AdCampaignMapping.account_id == account_id)
        .order_by(AdCampaignMapping.platform_campaign)
    )
    return list((await db.execute(query)).scalars())


async def find_mapping(
    db: AsyncSession, *, account_id: uuid.UUID, platform_campaign: str
) -> AdCampaignMapping | None:
    query = select(AdCampaignMapping).where(
        AdCampaignMapping.account_id == account_id,
        AdCampaignMapping.platform_campaign == platform_campaign,
    )
    return (await db.execute(query)).scalar_one_or_none()


async def get_mapping_or_404(
    db: AsyncSession, *, account_id: uuid.UUID, mapping_id: uuid.UUID
) -> AdCampaignMapping:
    row = await db.get(AdCampaignMapping, mapping_id)
    if row is None or row.account_id != account_id:
        raise NotFound(f"campaign mapping {mapping_id} not found on ad account {account_id}")
    return row


async def due_for_import(db: AsyncSession, *, now: datetime) -> list[AdAccount]:
    query = (
        select(AdAccount)
        .where(
            AdAccount.retired_at.is_(None),
            or_(AdAccount.next_import_at.is_(None), AdAccount.next_import_at <= now),
        )
        .order_by(AdAccount.next_import_at, AdAccount.id)
    )
    return list((await db.execute(query)).scalars())


async def claim_import(
    db: AsyncSession, *, account_id: uuid.UUID, seen: datetime | None, next_at: datetime
) -> bool:
    """Move the account's next import to `next_at` unless another worker did first."""
    unchanged = (
        AdAccount.next_import_at.is_(None) if seen is None else AdAccount.next_import_at == seen
    )
    result = await db.execute(
        update(AdAccount)
        .where(AdAccount.id == account_id, unchanged)
        .values(next_import_at=next_at)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
