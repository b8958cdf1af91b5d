"""The sources report: sessions, calls, leads, deals, revenue and ad spend per channel, and ROMI.

Definitions the dashboard and the API share:
- a call counts in the period it started in; its deals and revenue come with it, whenever the
  deal was won, so a period's ROMI matures as its deals close;
- a lead is an answered call that is not flagged as possible spam. Deliveries to a CRM would
  be another reading, but they exist only where a CRM is connected and lag behind (retries,
  outages), and a marketing report should not move when a CRM is down or swapped;
- revenue and costs are summed as amounts of the site's one currency; `currencies` lists what
  was summed, so a mix shows instead of being converted at some rate we would have to invent.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Site
from app.reports import repository
from app.reports.attribution_models import (
    CallTouch,
    Channel,
    GroupBy,
    Model,
    Share,
    Visit,
    credit,
)
from app.reports.period import Period
from app.reports.repository import ReportCall, WonDeals
from app.reports.schemas import CallsByDay, DayCalls, Figures, SourceRow, SourcesReport


@dataclass(slots=True)
class _Won:
    count: int = 0
    revenue: float = 0.0


@dataclass(slots=True)
class _Tally:
    sessions: int = 0
    calls: float = 0.0
    first_time_calls: float = 0.0
    answered: float = 0.0
    missed: float = 0.0
    leads: float = 0.0
    deals_won: float = 0.0
    revenue: float = 0.0
    cost: Decimal | None = None  # None: no cost row matched, which is not the same as 0

    def add_call(self, call: ReportCall, weight: float, won: _Won | None) -> None:
        self.calls += weight
        self.first_time_calls += weight * call.first_time_caller
        self.answered += weight * call.answered
        self.missed += weight * call.missed
        self.leads += weight * (call.answered and not call.possible_spam)
        if won is not None:
            self.deals_won += weight * won.count
            self.revenue += weight * won.revenue

    def add_cost(self, amount: Decimal) -> None:
        self.cost = (self.cost or Decimal(0)) + amount

    def figures(self) -> Figures:
        cost = float(self.cost) if self.cost is not None else None
        return Figures(
            sessions=self.sessions,
            calls=self.calls,
            first_time_calls=self.first_time_calls,
            answered=self.answered,
            missed=self.missed,
            leads=self.leads,
            deals_won=self.deals_won,
            revenue=self.revenue,
            cost=cost,
            cost_per_call=cost / self.calls if cost is not None and self.calls > 0 else None,
            romi=(self.revenue - cost) / cost if cost else None,
        )


@dataclass(slots=True)
class _Deals:
    by_call: dict[uuid.UUID, _Won] = field(default_factory=dict)
    currencies: set[str] = field(default_factory=set)


async def _won_deals(
    db: AsyncSession, *, site_id: uuid.UUID, since: datetime, until: datetime
) -> _Deals:
    deals = _Deals()
    rows: list[WonDeals] = await repository.won_deals(db, site_id=site_id, since=since, until=until)
    for row in rows:
        won = deals.by_call.setdefault(row.call_id, _Won())
        won.count += row.count
        won.revenue += float(row.revenue)
        deals.currencies.add(row.currency)
    return deals


async def _visits(
    db: AsyncSession, *, site_id: uuid.UUID, since: datetime, until: datetime, model: Model
) -> list[Visit]:
    """Only the visits `model` can give credit to."""
    if model == Model.FIRST_TOUCH:
        return await repository.first_visits(db, site_id=site_id, since=since, until=until)
    if model == Model.LAST_NON_DIRECT:
        # Only a direct call looks past its own visit, and only at non-direct ones.
        return await repository.caller_visits(
            db,
            site_id=site_id,
            since=since,
            until=until,
            direct_callers_only=True,
            non_direct_only=True,
        )
    return await repository.caller_visits(db, site_id=site_id, since=since, until=until)


async def attributed_calls(
    db: AsyncSession, *, site_id: uuid.UUID, since: datetime, until: datetime, model: Model
) -> tuple[list[ReportCall], dict[uuid.UUID, list[Share]]]:
    """The calls started in [since, until) and each one's channel shares under `model`."""
    calls = await repository.period_calls(db, site_id=site_id, since=since, until=until)
    visits = await _visits(db, site_id=site_id, since=since, until=until, model=model)
    touches = (
        CallTouch(
            call_id=call.id,
            visitor_id=call.visitor_id,
            started_at=call.started_at,
            channel=call.channel,
        )
        for call in calls
    )
    return calls, credit(touches, visits, model)


def _row_key(channel: Channel) -> tuple[tuple[bool, str], ...]:
    return tuple(
        (value is not None, value or "")
        for value in (channel.source, channel.medium, channel.campaign, channel.term)
    )


async def sources_report(
    db: AsyncSession,
    *,
    site: Site,
    since: datetime,
    until: datetime,
    group_by: GroupBy = GroupBy.CAMPAIGN,
    model: Model = Model.LAST_NON_DIRECT,
) -> SourcesReport:
    """Per channel at `group_by`: the contract's sources report for calls started in
    [since, until), credited to channels by `model`; rows by calls, most first."""
    period = Period(since=since, until=until, zone=ZoneInfo(site.timezone))
    rows: dict[Channel, _Tally] = defaultdict(_Tally)
    totals = _Tally()

    for channel, count in await repository.sessions_by_channel(
        db, site_id=site.id, since=since, until=until, level=group_by
    ):
        rows[channel].sessions += count
        totals.sessions += count

    calls, shares = await attributed_calls(
        db, site_id=site.id, since=since, until=until, model=model
    )
    deals = await _won_deals(db, site_id=site.id, since=since, until=until)
    for call in calls:
        won = deals.by_call.get(call.id)
        totals.add_call(call, 1.0, won)
        for channel, weight in shares[call.id]:
            rows[channel.at(group_by)].add_call(call, weight, won)

    currencies = set(deals.currencies)
    for channel, currency, amount in await repository.costs_by_channel(
        db, site_id=site.id, first_day=period.first_day, last_day=period.last_day, level=group_by
    ):
        currencies.add(currency)
        totals.add_cost(amount)
        if group_by != GroupBy.TERM:
            rows[channel].add_cost(amount)

    ordered = sorted(rows.items(), key=lambda item: (-item[1].calls, _row_key(item[0])))
    return SourcesReport(
        since=since,
        until=until,
        group_by=group_by.value,
        model=model.value,
        rows=[
            SourceRow(
                source=channel.source,
                medium=channel.medium,
                campaign=channel.campaign,
                term=channel.term,
                **tally.figures().model_dump(),
            )
            for channel, tally in ordered
        ],
        totals=totals.figures(),
        currencies=sorted(currencies),
    )


async def calls_by_day(
    db: AsyncSession,
    *,
    site: Site,
    since: datetime,
    until: datetime,
    model: Model = Model.LAST_NON_DIRECT,
) -> CallsByDay:
    """Calls per local day and source under `model`, for the overview's stacked chart."""
    zone = ZoneInfo(site.timezone)
    calls, shares = await attributed_calls(
        db, site_id=site.id, since=since, until=until, model=model
    )
    days: dict[tuple[date, str], float] = defaultdict(float)
    for call in calls:
        day = call.started_at.astimezone(zone).date()
        for channel, weight in shares[call.id]:
            days[(day, channel.source)] += weight
    ordered = sorted(days.items(), key=lambda item: (item[0][0], -item[1], item[0][1]))
    return CallsByDay(
        since=since,
        until=until,
        model=model.value,
        days=[DayCalls(day=day, source=source, calls=count) for (day, source), count in ordered],
    )
