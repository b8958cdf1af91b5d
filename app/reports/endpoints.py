from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import AdminOnly, DbSession, Now
from app.reports import service
from app.reports.attribution_models import GroupBy, Model
from app.reports.params import From, To
from app.reports.period import resolve_period
from app.reports.schemas import CallsByDay, SourcesReport
from app.sites import service as sites_service

router = APIRouter(prefix="/api/v1/sites/{site_id}", tags=["reports"], dependencies=[AdminOnly])

ModelQuery = Annotated[
    Model,
    Query(
        description="Which of the caller's visits get the credit: the last non-direct one "
        "(default), the first one, or all of them equally (fractional calls)."
    ),
]


@router.get("/reports/sources", response_model=SourcesReport)
async def sources_report(
    site_id: uuid.UUID,
    db: DbSession,
    now: Now,
    since: From = None,
    until: To = None,
    group_by: Annotated[GroupBy, Query()] = GroupBy.CAMPAIGN,
    model: ModelQuery = Model.LAST_NON_DIRECT,
) -> SourcesReport:
    """Sessions, calls, leads, deals, revenue, cost, cost per call and ROMI per channel."""
    site = await sites_service.get_site(db, site_id)
    period = resolve_period(since, until, timezone=site.timezone, now=now)
    return await service.sources_report(
        db, site=site, since=period.since, until=period.until, group_by=group_by, model=model
    )


@router.get("/reports/calls-by-day", response_model=CallsByDay)
async def calls_by_day(
    site_id: uuid.UUID,
    db: DbSession,
    now: Now,
    since: From = None,
    until: To = None,
    model: ModelQuery = Model.LAST_NON_DIRECT,
) -> CallsByDay:
    """Calls per day (in the site's time zone) and source: the overview's stacked chart."""
    site = await sites_service.get_site(db, site_id)
    period = resolve_period(since, until, timezone=site.timezone, now=now)
    return await service.calls_by_day(
        db, site=site, since=period.since, until=period.until, model=model
    )
