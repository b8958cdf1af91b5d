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
from app.reports.attribution_models import GroupBy, Model
from app.reports.period import Period, resolve_period
from app.reports.schemas import Figures, SourceRow, SourcesReport
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
# The call list reads one period's calls and filters them; more than this asks for a narrower
# period (the API and the CSV export have no such cap).
CALL_LIST_CAP = 5000
CALLS_SHOWN = 300


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


def currency_of(report: SourcesReport) -> str | None:
    """The one currency of the report's money, or None when there is none or a mix."""
    return report.currencies[0] if len(report.currencies) == 1 else None


# --- overview ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Overview:
    totals: Figures
    currencies: list[str]
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
            series[row.source][index[row.day]] += row.calls
    chart = charts.stacked_bars(days, series, label=gettext("Calls per day by source"))
    recent = await calls_service.list_calls(
        db, site_id=site.id, since=span.since, until=span.until, limit=8
    )
    return Overview(
        totals=report.totals,
        currencies=report.currencies,
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
class CallFilters:
    source: str = ""
    method: str = ""
    outcome: str = ""  # answered | missed
    first_time: bool = False
    hide_spam: bool = False
    caller: str = ""
    min_duration: int | None = None
    tag: str = ""
    lead_status: str = ""

    def keep(self, call: Call) -> bool:
        if self.lead_status and workspace.lead_status(call) != self.lead_status:
            return False
        if self.source and (call.source or "") != self.source:
            return False
        if self.method and call.attribution_method != self.method:
            return False
        missed = call.status == "ended" and call.outcome != "answered"
        if self.outcome == "missed" and not missed:
            return False
        if self.outcome == "answered" and call.outcome != "answered":
            return False
        if self.first_time and not call.first_time_caller:
            return False
        if self.hide_spam and call.possible_spam:
            return False
        digits = "".join(c for c in self.caller if c.isdigit())
        if digits and digits not in "".join(c for c in (call.caller or "") if c.isdigit()):
            return False
        return self.min_duration is None or (call.duration or 0) >= self.min_duration


@dataclass(frozen=True, slots=True)
class CallList:
    calls: list[Call]
    matched: int
    sources: list[str]
    capped: bool
    tags: dict[uuid.UUID, list[str]] = field(default_factory=dict)  # of the calls shown
    site_tags: list[str] = field(default_factory=list)


async def call_list(
    db: AsyncSession, *, site: Site, period: PeriodView, filters: CallFilters
) -> CallList:
    span = period.period
    found = await calls_service.list_calls(
        db, site_id=site.id, since=span.since, until=span.until, limit=CALL_LIST_CAP + 1
    )
    capped = len(found) > CALL_LIST_CAP
    found = found[:CALL_LIST_CAP]
    kept = [call for call in found if filters.keep(call)]
    if filters.tag:
        tagged = await workspace.calls_tagged(db, site_id=site.id, tag=filters.tag)
        kept = [call for call in kept if call.id in tagged]
    sources = sorted({call.source for call in found if call.source})
    shown = kept[:CALLS_SHOWN]
    return CallList(
        calls=shown,
        matched=len(kept),
        sources=sources,
        capped=capped,
        tags=await workspace.tags_of(db, [call.id for call in shown]),
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
    non_direct = [s for s in journey if s.source != "(direct)"]
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
