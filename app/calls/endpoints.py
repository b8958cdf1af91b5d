from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app.calls import service
from app.calls.schemas import CallDetail, CallList, CallOut, SessionOut
from app.deps import AdminOnly, DbSession
from app.sites import service as sites_service

router = APIRouter(prefix="/api/v1/sites/{site_id}/calls", tags=["calls"], dependencies=[AdminOnly])


@router.get("", response_model=CallList)
async def list_calls(
    site_id: uuid.UUID,
    db: DbSession,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> CallList:
    """Calls of the site, newest first, started in [from, to)."""
    await sites_service.get_site(db, site_id)
    calls = await service.list_calls(db, site_id=site_id, since=since, until=until, limit=limit)
    return CallList(items=[CallOut.of(call) for call in calls])


@router.get("/{call_id}", response_model=CallDetail)
async def get_call(site_id: uuid.UUID, call_id: uuid.UUID, db: DbSession) -> CallDetail:
    """A call with the visitor's journey: every session before it, first and last touch."""
    call = await service.get_call(db, site_id=site_id, call_id=call_id)
    sessions = [SessionOut.of(s) for s in await service.journey(db, call)]
    non_direct = [s for s in sessions if s.source != "(direct)"]
    return CallDetail(
        **CallOut.of(call).model_dump(),
        journey=sessions,
        first_touch=sessions[0] if sessions else None,
        last_touch=non_direct[-1] if non_direct else (sessions[-1] if sessions else None),
    )
