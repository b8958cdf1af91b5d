"""The sources report: sessions, calls, leads, deals, revenue and ad spend per channel, and ROMI.

Definitions the dashboard and the API share:
- a call counts in the period it started in; its deals and revenue come with it, whenever the
  deal was won, so a period's ROMI matures as its deals close;
- a lead is an answered call that is not flagged as possible spam, or a form sent on the site
  (counted by its visit's own channel, whatever the model: the visit that sent it is known).
  Deliveries to a CRM would
  be another reading, but they exist only where a CRM is connected and lag behind (retries,
  outages), and a marketing report should not move when a CRM is down or swapped;
- ad costs are booked by day: a period counts the costs of every local day it touches; at the
  term level spend imported (or uploaded) by keyword meets the visits' utm_term, and spend
  without a keyword shows on its campaign's row without a term;
- revenue and costs are summed in the site's currency only; deals and costs in any other
  currency are listed apart (`set_apart`), never added nor converted at some rate we would
  have to invent;
- the totals' ROMI counts the revenue that has a source: revenue of calls no visit or source
  explains ("(none)") is in the revenue but not in that ROMI (`unattributed_revenue`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Site
from app.reports import repository, rollups
from app.reports.attribution_models import NONE, Channel, GroupBy, Model
from app.reports.local_days import split_period, start_of_day
from app.reports.period import Period
from app.reports.repository import CallFigures, RolledDays, WonDeals
from app.reports.schemas import (
    CallsByDay,
    DayCalls,
    Figures,
    SetApart,
    SourceRow,
    SourcesReport,
)


@dataclass(slots=True)
class _Tally:
    sessions: int = 0
    calls: float = 0.0
    first_time_calls: float = 0.0
    answered: float = 0.0
    missed: float = 0.0
    leads: float = 0.0
    form_leads: int = 0
    deals_won: float = 0.0
    revenue: float = 0.0
    cost: Decimal | None = None  # None: no cost row matched, which is not the same as 0

    def add_calls(self, figures: CallFigures) -> None:
        self.calls += figures.calls
        self.first_time_calls += figures.first_time_calls
        self.answered += figures.answered
        self.missed += figures.missed
        self.leads += figures.leads
        self.deals_won += figures.deals_won
        self.revenue += figures.revenue

    def add_forms(self, count: int) -> None:
        self.form_leads += count
        self.leads += count

    def add_cost(self, amount: Decimal) -> None:
        self.cost = (self.cost or Decimal(0)) + amount

    def figures(self, *, unattributed: float = 0.0) -> Figures:
        """The figures; ROMI over the revenue less `unattributed`."""
        cost = float(self.cost) if self.cost is not None else None
        return Figures(
            sessions=self.sessions,
            calls=self.calls,
            first_time_calls=self.first_time_calls,
            answered=self.answered,
            missed=self.missed,
            leads=self.leads,
            form_leads=self.form_leads,
            deals_won=self.deals_won,
            revenue=self.revenue,
            cost=cost,
            cost_per_call=cost / self.calls if cost is not None and self.calls > 0 else None,
            cost_per_lead=cost / self.leads if cost is not None and self.leads > 0 else None,
            romi=(self.revenue - unattributed - cost) / cost if cost else None,
        )


@dataclass(frozen=True, slots=True)
class CallRevenue:
    deals_won: int
    revenue: Decimal
    currency: str


async def revenue_by_call(
    db: AsyncSession, *, site_id: uuid.UUID, since: datetime, until: datetime
) -> dict[uuid.UUID, CallRevenue]:
    """Won deals and their revenue per call started in [since, until), for the exports.

    A call whose won deals are in several currencies (rare: one site sells in one) reports
    the currency with the most revenue and leaves the rest out rather than add them up.
    """
    best: dict[uuid.UUID, WonDeals] = {}
    counts: dict[uuid.UUID, int] = defaultdict(int)
    for row in await repository.won_deals(db, site_id=site_id, since=since, until=until):
        counts[row.call_id] += row.count
        held = best.get(row.call_id)
        if held is None or row.revenue > held.revenue:
            best[row.call_id] = row
    return {
        call_id: CallRevenue(deals_won=counts[call_id], revenue=row.revenue, currency=row.currency)
        for call_id, row in best.items()
    }


def _row_key(channel: Channel) -> tuple[tuple[bool, str], ...]:
    return tuple(
        (value is not None, value or "")
        for value in (channel.source, channel.medium, channel.campaign, channel.term)
    )


async def _sessions_by_channel(
    db: AsyncSession,
    *,
    site: Site,
    since: datetime,
    until: datetime,
    level: GroupBy,
    rolled_until: date | None,
) -> list[tuple[Channel, int]]:
    """Sessions by channel: the rolled-up whole days from the rollups, the rest of the period
    (its partial edges, today, days not rolled up yet) from the visits."""
    direct: list[tuple[datetime, datetime]] = [(since, until)]
    found: list[tuple[Channel, int]] = []
    days = split_period(since, until, ZoneInfo(site.timezone))
    if rolled_until is not None and days.first_day is not None and days.last_day is not None:
        last_rolled = min(days.last_day, rolled_until - timedelta(days=1))
        if days.first_day <= last_rolled:
            found += await repository.rolled_sessions_by_channel(
                db, site_id=site.id, first_day=days.first_day, last_day=last_rolled, level=level
            )
            direct = list(days.edges)
            rest_since = start_of_day(last_rolled + timedelta(days=1), ZoneInfo(site.timezone))
            rest_until = start_of_day(days.last_day + timedelta(days=1), ZoneInfo(site.timezone))
            if rest_since < rest_until:
                direct.append((rest_since, rest_until))
    for part_since, part_until in direct:
        found += await repository.sessions_by_channel(
            db, site_id=site.id, since=part_since, until=part_until, level=level
        )
    return found


@dataclass(frozen=True, slots=True)
class _CallDays:
    """A period as the call rollups answer it: whole local days without a pending change from
    the rollups; the partial edges directly; the days with a pending change from the credits
    of their settled calls plus their pending calls directly (or all directly, when too many
    calls are pending to name them)."""

    rolled: RolledDays | None
    edges: tuple[tuple[datetime, datetime], ...]
    stale: tuple[tuple[datetime, datetime], ...]
    pending: frozenset[uuid.UUID] | None


async def _call_days(db: AsyncSession, site: Site, since: datetime, until: datetime) -> _CallDays:
    zone = ZoneInfo(site.timezone)
    days = split_period(since, until, zone)
    if days.first_day is None or days.last_day is None:
        return _CallDays(rolled=None, edges=days.edges, stale=(), pending=frozenset())
    first, last = days.first_day, days.last_day
    waiting = await rollups.pending(db, site)
    if waiting.days is None:  # the worker is far behind: every day as it stands
        return _CallDays(rolled=None, edges=((since, until),), stale=(), pending=frozenset())
    stale = frozenset(day for day in waiting.days if first <= day <= last)
    return _CallDays(
        rolled=RolledDays(first=first, last=last, skip=stale),
        edges=days.edges,
        stale=tuple(
            (start_of_day(day, zone), start_of_day(day + timedelta(days=1), zone))
            for day in sorted(stale)
        ),
        pending=waiting.calls,
    )


def _add_figures(into: dict[Channel, CallFigures], more: dict[Channel, CallFigures]) -> None:
    for channel, figures in more.items():
        held = into.get(channel)
        into[channel] = figures if held is None else held + figures


async def _rolled_calls(
    db: AsyncSession, site: Site, plan: _CallDays, *, level: GroupBy, model: Model
) -> dict[Channel, CallFigures]:
    found: dict[Channel, CallFigures] = {}
    if plan.rolled is not None:
        found = await repository.rolled_calls_by_channel(
            db, site_id=site.id, days=plan.rolled, level=level, model=model
        )

    direct = partial(
        repository.calls_by_channel,
        db,
        site_id=site.id,
        level=level,
        model=model,
        currency=site.currency,
    )
    settled = partial(
        repository.settled_calls_by_channel, db, site_id=site.id, level=level, model=model
    )
    for since, until in plan.edges:
        _add_figures(found, await direct(since=since, until=until))
    for since, until in plan.stale:
        if plan.pending is None:
            _add_figures(found, await direct(since=since, until=until))
            continue
        _add_figures(found, await settled(since=since, until=until, pending=plan.pending))
        _add_figures(found, await direct(since=since, until=until, only=plan.pending))
    return found


async def _rolled_revenue(db: AsyncSession, site: Site, plan: _CallDays) -> dict[str, Decimal]:
    found: dict[str, Decimal] = defaultdict(Decimal)
    parts = []
    if plan.rolled is not None:
        parts.append(
            await repository.rolled_revenue_by_currency(db, site_id=site.id, days=plan.rolled)
        )
    for since, until in plan.edges + plan.stale:
        parts.append(
            await repository.won_revenue_by_currency(db, site_id=site.id, since=since, until=until)
        )
    for part in parts:
        for currency, amount in part.items():
            found[currency] += amount
    return dict(found)


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
    usable = await rollups.usable(db, site)

    for channel, count in await _sessions_by_channel(
        db, site=site, since=since, until=until, level=group_by, rolled_until=usable.visits_until
    ):
        rows[channel].sessions += count
        totals.sessions += count

    # Each call's shares add up to one: the channels' sums are the period's totals.
    plan = await _call_days(db, site, since, until) if usable.credits else None
    if plan is not None:
        calls = await _rolled_calls(db, site, plan, level=group_by, model=model)
    else:
        calls = await repository.calls_by_channel(
            db,
            site_id=site.id,
            since=since,
            until=until,
            level=group_by,
            model=model,
            currency=site.currency,
        )
    unattributed = 0.0
    for channel, figures in calls.items():
        rows[channel].add_calls(figures)
        totals.add_calls(figures)
        if channel.source == NONE:
            unattributed += figures.revenue

    for channel, count in await repository.form_leads_by_channel(
        db, site_id=site.id, since=since, until=until, level=group_by
    ):
        rows[channel].add_forms(count)
        totals.add_forms(count)

    apart: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    if plan is not None:
        revenue = await _rolled_revenue(db, site, plan)
    else:
        revenue = await repository.won_revenue_by_currency(
            db, site_id=site.id, since=since, until=until
        )
    for currency, amount in revenue.items():
        if currency != site.currency:
            apart[currency][0] += amount
    for channel, currency, amount in await repository.costs_by_channel(
        db, site_id=site.id, first_day=period.first_day, last_day=period.last_day, level=group_by
    ):
        if currency != site.currency:
            apart[currency][1] += amount
            continue
        totals.add_cost(amount)
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
        totals=totals.figures(unattributed=unattributed),
        currency=site.currency,
        set_apart=[
            SetApart(currency=currency, revenue=float(amounts[0]), cost=float(amounts[1]))
            for currency, amounts in sorted(apart.items())
        ],
        unattributed_revenue=unattributed,
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
    days: dict[tuple[date, str], float] = defaultdict(float)
    by_time: list[tuple[datetime, str, float]] = []
    if (await rollups.usable(db, site)).credits:
        plan = await _call_days(db, site, since, until)
        if plan.rolled is not None:
            for day, source, calls in await repository.rolled_calls_by_day(
                db, site_id=site.id, days=plan.rolled, model=model
            ):
                days[(day, source)] += calls
        for part_since, part_until in plan.edges:
            by_time += await repository.calls_by_source_and_time(
                db, site_id=site.id, since=part_since, until=part_until, model=model
            )
        for part_since, part_until in plan.stale:
            if plan.pending is not None:
                by_time += await repository.settled_calls_by_source_and_time(
                    db,
                    site_id=site.id,
                    since=part_since,
                    until=part_until,
                    model=model,
                    pending=plan.pending,
                )
            by_time += await repository.calls_by_source_and_time(
                db,
                site_id=site.id,
                since=part_since,
                until=part_until,
                model=model,
                only=plan.pending,
            )
    else:
        by_time = await repository.calls_by_source_and_time(
            db, site_id=site.id, since=since, until=until, model=model
        )
    for at, source, calls in by_time:
        days[(at.astimezone(zone).date(), source)] += calls
    ordered = sorted(days.items(), key=lambda item: (item[0][0], -item[1], item[0][1]))
    return CallsByDay(
        since=since,
        until=until,
        model=model.value,
        days=[DayCalls(day=day, source=source, calls=count) for (day, source), count in ordered],
    )
