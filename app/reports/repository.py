"""All SQL of the reports: the period's calls, their visitors' visits, sessions, costs, deals.

Reports are a read model over several domains' tables (calls, visits, deals, ad costs), so they
read those tables directly, and only read them. Counting and summing happens in SQL; only the
per-call attribution walk happens in Python (see attribution_models), over columns, not ORM
objects, to keep a 100,000-call period cheap.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AdCost, Call, Deal, TrackingSession
from app.reports.attribution_models import DIRECT, Channel, GroupBy, Visit, call_channel

_DEPTH = {GroupBy.SOURCE: 1, GroupBy.MEDIUM: 2, GroupBy.CAMPAIGN: 3, GroupBy.TERM: 4}


@dataclass(frozen=True, slots=True)
class ReportCall:
    id: uuid.UUID
    visitor_id: uuid.UUID | None
    started_at: datetime
    channel: Channel
    status: str
    outcome: str | None
    first_time_caller: bool
    possible_spam: bool

    @property
    def answered(self) -> bool:
        # A call still in progress that was picked up counts as answered already.
        return self.outcome == "answered" or self.status == "answered"

    @property
    def missed(self) -> bool:
        # The same rule as the call list's `missed`: ended without being answered.
        return self.status == "ended" and self.outcome != "answered"


@dataclass(frozen=True, slots=True)
class WonDeals:
    call_id: uuid.UUID
    currency: str
    count: int
    revenue: Decimal


def _in_period(since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(Call.started_at >= since, Call.started_at < until)


async def period_calls(
    db: AsyncSession, *, site_id: uuid.UUID, since: datetime, until: datetime
) -> list[ReportCall]:
    query = select(
        Call.id,
        Call.visitor_id,
        Call.started_at,
        Call.attribution_method,
        Call.source,
        Call.medium,
        Call.campaign,
        Call.term,
        Call.status,
        Call.outcome,
        Call.first_time_caller,
        Call.possible_spam,
    ).where(Call.site_id == site_id, _in_period(since, until))
    rows = (await db.execute(query)).all()
    return [
        ReportCall(
            id=row.id,
            visitor_id=row.visitor_id,
            started_at=row.started_at,
            channel=call_channel(
                row.attribution_method, row.source, row.medium, row.campaign, row.term
            ),
            status=row.status,
            outcome=row.outcome,
            first_time_caller=row.first_time_caller,
            possible_spam=row.possible_spam,
        )
        for row in rows
    ]


def _callers(
    site_id: uuid.UUID, since: datetime, until: datetime, *, direct_only: bool
) -> Select[Any]:
    """The visitors behind the period's calls (a subquery: no list of ids travels)."""
    query = select(Call.visitor_id).where(
        Call.site_id == site_id, _in_period(since, until), Call.visitor_id.is_not(None)
    )
    if direct_only:
        query = query.where(Call.source == DIRECT)
    return query.distinct()


def _visit_columns() -> tuple[Any, ...]:
    return (
        TrackingSession.visitor_id,
        TrackingSession.started_at,
        TrackingSession.source,
        TrackingSession.medium,
        TrackingSession.campaign,
        TrackingSession.term,
    )


def _visits(rows: Any) -> list[Visit]:
    return [
        Visit(
            visitor_id=row.visitor_id,
            started_at=row.started_at,
            channel=Channel.of(row.source, row.medium, row.campaign, row.term),
        )
        for row in rows
    ]


async def caller_visits(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    since: datetime,
    until: datetime,
    direct_callers_only: bool = False,
    non_direct_only: bool = False,
) -> list[Visit]:
    """Every visit, up to the period's end, of the visitors who called in the period.

    The last non-direct model needs only the non-direct visits of visitors whose own call was
    direct: the two flags narrow the load to that.
    """
    callers = _callers(site_id, since, until, direct_only=direct_callers_only)
    query = select(*_visit_columns()).where(
        TrackingSession.site_id == site_id,
        TrackingSession.visitor_id.in_(callers),
        TrackingSession.started_at < until,
    )
    if non_direct_only:
        query = query.where(TrackingSession.source != DIRECT)
    return _visits((await db.execute(query)).all())


async def first_visits(
    db: AsyncSession, *, site_id: uuid.UUID, since: datetime, until: datetime
) -> list[Visit]:
    """The first visit of each visitor who called in the period."""
    callers = _callers(site_id, since, until, direct_only=False)
    firsts = (
        select(
            TrackingSession.visitor_id.label("visitor_id"),
            func.min(TrackingSession.started_at).label("first_at"),
        )
        .where(TrackingSession.site_id == site_id, TrackingSession.visitor_id.in_(callers))
        .group_by(TrackingSession.visitor_id)
        .subquery()
    )
    query = select(*_visit_columns()).join(
        firsts,
        and_(
            TrackingSession.visitor_id == firsts.c.visitor_id,
            TrackingSession.started_at == firsts.c.first_at,
        ),
    )
    return _visits((await db.execute(query)).all())


def _level(level: GroupBy, *columns: Any) -> tuple[Any, ...]:
    return columns[: _DEPTH[level]]


async def sessions_by_channel(
    db: AsyncSession, *, site_id: uuid.UUID, since: datetime, until: datetime, level: GroupBy
) -> list[tuple[Channel, int]]:
    """Sessions started in the period, counted by their own channel (no model applies)."""
    keys = _level(
        level,
        TrackingSession.source,
        TrackingSession.medium,
        TrackingSession.campaign,
        TrackingSession.term,
    )
    query = (
        select(*keys, func.count())
        .where(
            TrackingSession.site_id == site_id,
            TrackingSession.started_at >= since,
            TrackingSession.started_at < until,
            TrackingSession.is_bot.is_(False),
        )
        .group_by(*keys)
    )
    return [(Channel.of(*row[:-1]), int(row[-1])) for row in (await db.execute(query)).all()]


async def costs_by_channel(
    db: AsyncSession, *, site_id: uuid.UUID, first_day: date, last_day: date, level: GroupBy
) -> list[tuple[Channel, str, Decimal]]:
    """Ad spend of the days [first_day, last_day] by channel and currency. Costs carry no
    term, so the term level groups them as the campaign level does."""
    keys = _level(
        GroupBy.CAMPAIGN if level == GroupBy.TERM else level,
        AdCost.source,
        AdCost.medium,
        AdCost.campaign,
    )
    query = (
        select(*keys, AdCost.currency, func.sum(AdCost.cost))
        .where(AdCost.site_id == site_id, AdCost.day >= first_day, AdCost.day <= last_day)
        .group_by(*keys, AdCost.currency)
    )
    return [
        (Channel.of(*row[:-2]), row[-2], Decimal(row[-1] or 0))
        for row in (await db.execute(query)).all()
    ]


async def won_deals(
    db: AsyncSession, *, site_id: uuid.UUID, since: datetime, until: datetime
) -> list[WonDeals]:
    """Won deals of the period's calls, by call and currency."""
    query = (
        select(Deal.call_id, Deal.currency, func.count(), func.sum(Deal.revenue))
        .join(Call, Call.id == Deal.call_id)
        .where(
            Deal.site_id == site_id,
            Deal.status == "won",
            Call.site_id == site_id,
            _in_period(since, until),
        )
        .group_by(Deal.call_id, Deal.currency)
    )
    return [
        WonDeals(call_id=call_id, currency=currency, count=int(count), revenue=Decimal(total or 0))
        for call_id, currency, count, total in (await db.execute(query)).all()
        if call_id is not None  # the join already says so; this tells the type checker
    ]
