"""What the report pages show, assembled from the services that own the data: the reports
(app.reports), calls (app.calls) and deals (crm_push). No SQL here."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.calls import service as calls_service
from app.calls import workspace
from app.calls.workspace import LeadStatus
from app.dashboard import charts
from app.i18n import gettext, lazy_gettext
from app.models import Call, CallNote, Deal, Site, TrackingSession
from app.reports import service as reports_service
from app.reports.attribution_models import DIRECT, NONE, GroupBy, Model
from app.reports.call_filters import CallFilters
from app.reports.period import Period, resolve_period
from app.reports.schemas import Figures, SetApart, SourceRow, SourcesReport
from crm_push import deals as deals_service

MODEL_NAMES = {
    Model.LAST_NON_DIRECT: lazy_gettext("Last non-direct touch"),
    Model.FIRST_TOUCH: lazy_gettext("First touch"),
    Model.LINEAR: lazy_gettext("Linear"),
}
GROUP_NAMES = {
    GroupBy.SOURCE: lazy_gettext("Source"),
    GroupBy.MEDIUM: lazy_gettext("Source / medium"),
    GroupBy.CAMPAIGN: lazy_gettext("Source / medium / campaign"),
    GroupBy.TERM: lazy_gettext("Source / medium / campaign / term"),
}
CALLS_PER_PAGE = 50
# The two kinds of "no source" by names that do not look alike ("(direct)" and "(none)" do);
# the templates say the same (_macros.html, source_name).
SOURCE_LABELS = {
    DIRECT: "Direct visit (no source)",
    NONE: "No visit matched (offline or unknown)",
}


def source_label(source: str) -> str:
    return SOURCE_LABELS.get(source, source)


@dataclass(frozen=True, slots=True)
class PeriodView:
    period: Period
    raw_from: str | None
    raw_to: str | None

    @property
    def first_day(self) -> date:
        return self.period.first_day

    @property
    def last_day(self) -> date:
        return self.period.last_day

    @property
    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(count)]


def period_of(site: Site, raw_from: str | None, raw_to: str | None, *, now: datetime) -> PeriodView:
    raw_from, raw_to = raw_from or None, raw_to or None
    period = resolve_period(raw_from, raw_to, timezone=site.timezone, now=now)
    return PeriodView(period=period, raw_from=raw_from, raw_to=raw_to)


# --- overview ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Overview:
    totals: Figures
    currency: str
    set_apart: list[SetApart]
    unattributed_revenue: float | None
    chart: charts.BarChart
    top_sources: list[SourceRow]
    recent_calls: list[Call]


async def overview(db: AsyncSession, *, site: Site, period: PeriodView, model: Model) -> Overview:
    span = period.period
    report = await reports_service.sources_report(
        db, site=site, since=span.since, until=span.until, group_by=GroupBy.SOURCE, model=model
    )
    by_day = await reports_service.calls_by_day(
        db, site=site, since=span.since, until=span.until, model=model
    )
    days = period.days
    index = {day: i for i, day in enumerate(days)}
    series: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(days))
    for row in by_day.days:
        if row.day in index:
            series[source_label(row.source)][index[row.day]] += row.calls
    chart = charts.stacked_bars(days, series, label=gettext("Calls per day by source"))
    recent = await calls_service.list_calls(
        db, site_id=site.id, since=span.since, until=span.until, limit=8
    )
    return Overview(
        totals=report.totals,
        currency=report.currency,
        set_apart=report.set_apart,
        unattributed_revenue=report.unattributed_revenue,
        chart=chart,
        top_sources=report.rows[:8],
        recent_calls=recent,
    )


async def sources(
    db: AsyncSession, *, site: Site, period: PeriodView, group_by: GroupBy, model: Model
) -> SourcesReport:
    span = period.period
    return await reports_service.sources_report(
        db, site=site, since=span.since, until=span.until, group_by=group_by, model=model
    )


# --- calls ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallList:
    calls: list[Call]
    total: int
    page: int
    pages: int
    first: int  # the position of the page's first call among all (1-based), 0 when empty
    last: int
    sources: list[str]
    tags: dict[uuid.UUID, list[str]] = field(default_factory=dict)  # of the calls shown
    site_tags: list[str] = field(default_factory=list)


async def call_list(
    db: AsyncSession, *, site: Site, period: PeriodView, filters: CallFilters, page: int = 1
) -> CallList:
    span = period.period
    offset = (page - 1) * CALLS_PER_PAGE
    found = await calls_service.search_calls(
        db,
        site_id=site.id,
        since=span.since,
        until=span.until,
        filters=filters,
        offset=offset,
        limit=CALLS_PER_PAGE,
    )
    sources = await calls_service.call_sources(
        db, site_id=site.id, since=span.since, until=span.until
    )
    pages = max(1, -(-found.total // CALLS_PER_PAGE))
    return CallList(
        calls=found.calls,
        total=found.total,
        page=page,
        pages=pages,
        first=offset + 1 if found.calls else 0,
        last=offset + len(found.calls),
        sources=sources,
        tags=await workspace.tags_of(db, [call.id for call in found.calls]),
        site_tags=await workspace.site_tags(db, site_id=site.id),
    )


@dataclass(frozen=True, slots=True)
class CallDetail:
    call: Call
    journey: list[TrackingSession]
    first_touch: TrackingSession | None
    last_touch: TrackingSession | None
    deals: list[Deal] = field(default_factory=list)
    notes: list[CallNote] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    lead_status: LeadStatus = LeadStatus.NEW

    @property
    def manual_deal(self) -> Deal | None:
        return next((d for d in self.deals if d.manual), None)


async def call_detail(db: AsyncSession, *, site: Site, call_id: uuid.UUID) -> CallDetail:
    call = await calls_service.get_call(db, site_id=site.id, call_id=call_id)
    journey = await calls_service.journey(db, call)
    non_direct = [s for s in journey if s.source != DIRECT]
    deals = await deals_service.list_deals(db, site_id=site.id, call_id=call.id)
    return CallDetail(
        call=call,
        journey=journey,
        first_touch=journey[0] if journey else None,
        last_touch=non_direct[-1] if non_direct else (journey[-1] if journey else None),
        deals=deals,
        notes=await workspace.notes(db, call),
        tags=(await workspace.tags_of(db, [call.id]))[call.id],
        lead_status=workspace.lead_status(call),
    )
