"""All SQL of the exports: the period's calls with the Metrika client id of their visit."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Call, TrackingSession
from app.reports.call_filters import CallFilters


class ClickId(StrEnum):
    """Which ids a call must carry to be exported."""

    GCLID = "gclid"
    METRIKA = "metrika"  # a Metrika ClientId or a yclid


async def calls(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    since: datetime,
    until: datetime,
    min_duration: int | None = None,
    click_id: ClickId | None = None,
    include_spam: bool = True,
    filters: CallFilters | None = None,
) -> list[tuple[Call, str | None]]:
    """Calls started in [since, until), oldest first, each with its visit's ym_client_id."""
    query = (
        select(Call, TrackingSession.ym_client_id)
        .outerjoin(TrackingSession, TrackingSession.id == Call.session_id)
        .where(Call.site_id == site_id, Call.started_at >= since, Call.started_at < until)
    )
    if min_duration:
        query = query.where(Call.duration >= min_duration)
    if filters is not None:
        query = query.where(*filters.conditions())
    if not include_spam:
        query = query.where(Call.possible_spam.is_(False))
    if click_id == ClickId.GCLID:
        query = query.where(Call.gclid.is_not(None), Call.gclid != "")
    elif click_id == ClickId.METRIKA:
        query = query.where(
            or_(
                (TrackingSession.ym_client_id.is_not(None)) & (TrackingSession.ym_client_id != ""),
                (Call.yclid.is_not(None)) & (Call.yclid != ""),
            )
        )
    query = query.order_by(Call.started_at, Call.id)
    return [(call, ym) for call, ym in (await db.execute(query)).all()]
