"""All SQL of the leads: form leads written and read, calls read as leads."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Call, FormLead


async def forms_in_session(db: AsyncSession, *, session_id: uuid.UUID) -> int:
    query = select(func.count()).where(FormLead.session_id == session_id)
    return int(await db.scalar(query) or 0)


async def form_leads(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[FormLead]:
    query = select(FormLead).where(FormLead.site_id == site_id)
    if since is not None:
        query = query.where(FormLead.created_at >= since)
    if until is not None:
        query = query.where(FormLead.created_at < until)
    query = query.order_by(FormLead.created_at.desc(), FormLead.id.desc()).limit(limit)
    return list((await db.execute(query)).scalars())


async def call_leads(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[Call]:
    """The calls that are leads (the reports' reading: answered, not possible spam)."""
    query = select(Call).where(
        Call.site_id == site_id,
        # A call still in progress that was picked up counts already (as in the reports).
        or_(Call.outcome == "answered", Call.status == "answered"),
        Call.possible_spam.is_(False),
    )
    if since is not None:
        query = query.where(Call.started_at >= since)
    if until is not None:
        query = query.where(Call.started_at < until)
    query = query.order_by(Call.started_at.desc(), Call.id.desc()).limit(limit)
    return list((await db.execute(query)).scalars())
