"""The CSV exports: calls for people, offline conversions for Google Ads and Yandex Metrika.

Ad platforms get only calls they can tie to a click or a visit (a gclid; a Metrika ClientId
or a yclid), and by default not the calls flagged as possible spam: a robocall uploaded as a
conversion would teach the bidding to buy more of them.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.exports import repository
from app.exports.formats import (
    MetrikaId,
    calls_rows,
    google_ads_rows,
    metrika_rows,
    sources_rows,
    to_csv,
)
from app.exports.repository import ClickId
from app.models import Site
from app.reports import service as reports_service
from app.reports.attribution_models import GroupBy, Model
from app.reports.call_filters import CallFilters

__all__ = ["MetrikaId", "calls_csv", "google_ads_csv", "sources_csv", "yandex_metrika_calls_csv"]

# Excel reads a CSV as the system's ANSI code page unless it starts with a BOM; the people's
# export carries one, the ad platforms' files (whose first line is parsed) do not.
BOM = "\ufeff"


async def calls_csv(
    db: AsyncSession,
    *,
    site: Site,
    since: datetime,
    until: datetime,
    filters: CallFilters | None = None,
) -> str:
    """Every call started in [since, until) that passes `filters`, oldest first."""
    calls = await repository.calls(db, site_id=site.id, since=since, until=until, filters=filters)
    revenue = await reports_service.revenue_by_call(db, site_id=site.id, since=since, until=until)
    rows = calls_rows((call for call, _ in calls), revenue, ZoneInfo(site.timezone))
    return BOM + to_csv(rows)


async def google_ads_csv(
    db: AsyncSession,
    *,
    site: Site,
    since: datetime,
    until: datetime,
    conversion_name: str,
    min_duration: int | None = None,
    include_spam: bool = False,
) -> str:
    """Offline click conversions by gclid, in the site's time zone."""
    calls = await repository.calls(
        db,
        site_id=site.id,
        since=since,
        until=until,
        min_duration=min_duration,
        click_id=ClickId.GCLID,
        include_spam=include_spam,
    )
    revenue = await reports_service.revenue_by_call(db, site_id=site.id, since=since, until=until)
    rows = google_ads_rows(
        (call for call, _ in calls),
        revenue,
        zone=ZoneInfo(site.timezone),
        timezone=site.timezone,
        conversion_name=conversion_name,
    )
    return to_csv(rows)


async def yandex_metrika_calls_csv(
    db: AsyncSession,
    *,
    site: Site,
    since: datetime,
    until: datetime,
    min_duration: int | None = None,
    include_spam: bool = False,
    identifier: MetrikaId = MetrikaId.ANY,
) -> str:
    """Calls for Metrika's upload_calls, by the visit's ClientId or the yclid."""
    calls = await repository.calls(
        db,
        site_id=site.id,
        since=since,
        until=until,
        min_duration=min_duration,
        click_id=ClickId.METRIKA,
        include_spam=include_spam,
    )
    revenue = await reports_service.revenue_by_call(db, site_id=site.id, since=since, until=until)
    return to_csv(metrika_rows(calls, revenue, identifier=identifier))


async def sources_csv(
    db: AsyncSession,
    *,
    site: Site,
    since: datetime,
    until: datetime,
    group_by: GroupBy,
    model: Model,
) -> str:
    """The sources report as a spreadsheet: its rows, then the total."""
    report = await reports_service.sources_report(
        db, site=site, since=since, until=until, group_by=group_by, model=model
    )
    return BOM + to_csv(sources_rows(report, group_by=group_by))
