from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.calls import service
from app.calls.schemas import CallDetail, CallList, CallOut, SessionOut
from app.deps import AdminOnly, DbSession
from app.reports.period import resolve_bounds
from app.sites import service as sites_service

_BOUND_HELP = (
    "ISO date (a day in the site's time zone; `to` includes it) or ISO datetime "
    "(naive: the site's time zone; `to` excluded). Default: no bound."
)
CallsFrom = Annotated[str | None, Query(alias="from", description=_BOUND_HELP, max_length=40)]
CallsTo = Annotated[str | None, Query(alias="to", description=_BOUND_HELP, max_length=40)]

router = APIRouter(prefix="/api/v1/sites/{site_id}/calls", tags=["calls"], dependencies=[AdminOnly])


@router.get("", response_model=CallList)
async def list_calls(
    site_id: uuid.UUID,
    db: DbSession,
    since: CallsFrom = None,
    until: CallsTo = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> CallList:
    """Calls of the site, newest first, started in [from, to): the same `from` / `to` as the
    reports and exports take."""
    site = await sites_service.get_site(db, site_id)
    start, end = resolve_bounds(since, until, timezone=site.timezone)
    calls = await service.list_calls(db, site_id=site_id, since=start, until=end, limit=limit)
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
