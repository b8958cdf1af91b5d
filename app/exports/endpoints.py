from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import AdminOnly, DbSession, Now
from app.exports import service
from app.exports.formats import MetrikaId
from app.models import Site
from app.reports.attribution_models import GroupBy, Model
from app.reports.params import CallFilterParams, From, To
from app.reports.period import Period, resolve_period
from app.sites import service as sites_service

router = APIRouter(prefix="/api/v1/sites/{site_id}", tags=["exports"], dependencies=[AdminOnly])

MinDuration = Annotated[
    int | None,
    Query(ge=0, le=86_400, description="Only calls at least this many seconds long."),
]
IncludeSpam = Annotated[
    bool,
    Query(description="Also calls flagged as possible spam (left out of conversions by default)."),
]
_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


def csv_response(content: str, *, name: str, period: Period) -> Response:
    """A CSV download named after what it holds and its days."""
    first, last = period.first_day.isoformat(), period.last_day.isoformat()
    filename = f"{name}-{first}-{last}.csv"
    return Response(
        content=content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _site_and_period(
    db: AsyncSession, site_id: uuid.UUID, since: str | None, until: str | None, now: datetime
) -> tuple[Site, Period]:
    site = await sites_service.get_site(db, site_id)
    return site, resolve_period(since, until, timezone=site.timezone, now=now)


@router.get("/exports/calls.csv", response_class=Response, responses=_CSV_RESPONSE)
async def calls_csv(
    site_id: uuid.UUID,
    db: DbSession,
    now: Now,
    filters: CallFilterParams,
    since: From = None,
    until: To = None,
) -> Response:
    """Every call of the period with its attribution, deal and revenue (for spreadsheets);
    the filters are the dashboard's call list's."""
    site, period = await _site_and_period(db, site_id, since, until, now)
    content = await service.calls_csv(
        db, site=site, since=period.since, until=period.until, filters=filters
    )
    return csv_response(content, name="calls", period=period)


@router.get("/exports/sources.csv", response_class=Response, responses=_CSV_RESPONSE)
async def sources_csv(
    site_id: uuid.UUID,
    db: DbSession,
    now: Now,
    since: From = None,
    until: To = None,
    group_by: Annotated[GroupBy, Query()] = GroupBy.CAMPAIGN,
    model: Annotated[Model, Query()] = Model.LAST_NON_DIRECT,
) -> Response:
    """The sources report (as /reports/sources) as a spreadsheet, the total last."""
    site, period = await _site_and_period(db, site_id, since, until, now)
    content = await service.sources_csv(
        db, site=site, since=period.since, until=period.until, group_by=group_by, model=model
    )
    return csv_response(content, name="sources", period=period)


@router.get("/exports/google-ads.csv", response_class=Response, responses=_CSV_RESPONSE)
async def google_ads_csv(
    site_id: uuid.UUID,
    db: DbSession,
    now: Now,
    conversion_name: Annotated[
        str,
        Query(
            min_length=1,
            max_length=100,
            description="The Google Ads conversion action's name, exactly as in Google Ads.",
        ),
    ],
    since: From = None,
    until: To = None,
    min_duration: MinDuration = None,
    include_spam: IncludeSpam = False,
) -> Response:
    """Offline click conversions (by gclid) for Google Ads' upload, in the site's time zone."""
    site, period = await _site_and_period(db, site_id, since, until, now)
    content = await service.google_ads_csv(
        db,
        site=site,
        since=period.since,
        until=period.until,
        conversion_name=conversion_name,
        min_duration=min_duration,
        include_spam=include_spam,
    )
    return csv_response(content, name="google-ads", period=period)


@router.get("/exports/yandex-metrika-calls.csv", response_class=Response, responses=_CSV_RESPONSE)
async def yandex_metrika_calls_csv(
    site_id: uuid.UUID,
    db: DbSession,
    now: Now,
    since: From = None,
    until: To = None,
    min_duration: MinDuration = None,
    include_spam: IncludeSpam = False,
    identifier: Annotated[
        MetrikaId,
        Query(description="Id columns: both ClientId and Yclid (default), or just one."),
    ] = MetrikaId.ANY,
) -> Response:
    """Calls for Yandex Metrika's calls upload, by the visit's ClientId or the yclid."""
    site, period = await _site_and_period(db, site_id, since, until, now)
    content = await service.yandex_metrika_calls_csv(
        db,
        site=site,
        since=period.since,
        until=period.until,
        min_duration=min_duration,
        include_spam=include_spam,
        identifier=identifier,
    )
    return csv_response(content, name="yandex-metrika-calls", period=period)
