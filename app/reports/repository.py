"""All SQL of the reports: sessions, credited calls with their deals, costs, by channel.

Reports are a read model over several domains' tables (calls, visits, deals, ad costs), so they
read those tables directly, and only read them. Everything is counted and summed in the
database (the attribution models too, see credits); Python gets a few rows per channel.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Subquery,
    and_,
    case,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.kit import dialect
from app.models import (
    AdCost,
    Call,
    CallCredit,
    CallRollup,
    Deal,
    FormLead,
    RevenueRollup,
    TrackingSession,
    VisitRollup,
)
from app.reports.attribution_models import Channel, GroupBy, Model
from app.reports.credits import credited_calls, decode_key, in_period, in_period_among

# Every time zone's offset is a whole number of quarter hours, so a quarter hour of UTC lies
# within one local day: calls are counted per quarter hour here and per day in Python.
BUCKET_S = 900


@dataclass(frozen=True, slots=True)
class CallFigures:
    """Credited (so possibly fractional) call counts of one channel."""

    calls: float
    first_time_calls: float
    answered: float
    missed: float
    leads: float
    deals_won: float
    revenue: float

    def __add__(self, other: CallFigures) -> CallFigures:
        return CallFigures(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True, slots=True)
class WonDeals:
    call_id: uuid.UUID
    currency: str
    count: int
    revenue: Decimal


_MANUAL = aliased(Deal, name="manual_deal")


def counted_deal() -> ColumnElement[bool]:
    """A call's manual deal (set on its page in the dashboard) wins: while a call has one, the
    call's other deals (from a CRM or the API) are kept and shown but do not count, whether the
    manual one says won or lost. Removing the manual deal lets them count again."""
    manual_of_call = select(_MANUAL.id).where(_MANUAL.call_id == Deal.call_id, _MANUAL.manual)
    return or_(Deal.manual, ~manual_of_call.exists())


def _level(level: GroupBy, *columns: Any) -> tuple[Any, ...]:
    return columns[: level.depth]


def won_by_call(where: ColumnElement[bool], currency: str | ColumnElement[str]) -> Subquery:
    """Won (and counted) deals per call of `where`, and their revenue in `currency`: an
    amount in another currency is never added to it (the report lists those apart)."""
    return (
        select(
            Deal.call_id.label("call_id"),
            func.count().label("deals"),
            func.sum(case((Deal.currency == currency, Deal.revenue), else_=0)).label("revenue"),
        )
        .join(Call, Call.id == Deal.call_id)
        .where(Deal.status == "won", counted_deal(), where)
        .group_by(Deal.call_id)
        .subquery("won")
    )


def _won_by_call(
    site_id: uuid.UUID,
    since: datetime,
    until: datetime,
    currency: str,
    only: Collection[uuid.UUID] | None = None,
) -> Subquery:
    """Won deals per call of the period, revenue in `currency` (the site's)."""
    period = and_(Deal.site_id == site_id, in_period_among(site_id, since, until, only))
    return won_by_call(period, currency)


def _folded(rows: Sequence[Sequence[Any]], level: GroupBy) -> dict[Channel, CallFigures]:
    """(channel key, figures...) rows summed per channel at `level`: "Google" and "google"
    group apart in SQL and are one channel here."""
    merged: dict[Channel, CallFigures] = {}
    for row in rows:
        key, figures = row[0], row[1:]
        channel = decode_key(key).at(level)
        these = CallFigures(*(float(value or 0) for value in figures))
        held = merged.get(channel)
        merged[channel] = these if held is None else held + these
    return merged


async def _without_jit(db: AsyncSession) -> None:
    """PostgreSQL prices a correlated subquery per call so high that it JIT-compiles the
    query, which then costs seconds of compiling for a few hundred ms of work. And after a
    few runs of a prepared statement it switches to a generic plan that guesses the period
    holds a few hundred calls, not a hundred thousand (1.4-2.2x slower, bench/reports.py).
    Reports are read-only: these settings last for the rest of the transaction only."""
    await dialect.custom_plans_without_jit(db)


async def calls_by_channel(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    since: datetime,
    until: datetime,
    level: GroupBy,
    model: Model,
    currency: str,
    only: Collection[uuid.UUID] | None = None,
) -> dict[Channel, CallFigures]:
    """The calls started in [since, until) (among `only` when given), credited by `model`,
    summed per channel; revenue in `currency` only."""
    await _without_jit(db)
    credited = credited_calls(site_id, since, until, model=model, level=level, only=only)
    won = _won_by_call(site_id, since, until, currency, only)
    weight = credited.c.weight
    query = (
        select(
            credited.c.key,
            func.sum(weight),
            func.sum(weight * credited.c.first_time),
            func.sum(weight * credited.c.answered),
            func.sum(weight * credited.c.missed),
            func.sum(weight * credited.c.lead),
            func.sum(weight * func.coalesce(won.c.deals, 0)),
            func.sum(weight * func.coalesce(won.c.revenue, 0)),
        )
        .select_from(credited)
        .outerjoin(won, won.c.call_id == credited.c.call_id)
        .group_by(credited.c.key)
    )
    return _folded((await db.execute(query)).all(), level)


async def rolled_sessions_by_channel(
    db: AsyncSession, *, site_id: uuid.UUID, first_day: date, last_day: date, level: GroupBy
) -> list[tuple[Channel, int]]:
    """Sessions of the rolled-up local days [first_day, last_day] by channel."""
    rollup = VisitRollup
    keys = _level(level, rollup.source, rollup.medium, rollup.campaign, rollup.term)
    query = (
        select(*keys, func.sum(rollup.sessions))
        .where(rollup.site_id == site_id, rollup.day >= first_day, rollup.day <= last_day)
        .group_by(*keys)
    )
    return [(Channel.of(*row[:-1]), int(row[-1])) for row in (await db.execute(query)).all()]


def credit_sums() -> tuple[ColumnElement[Any], ...]:
    """The CallFigures of a group of call_credits rows, each call weighted by its share."""
    c = CallCredit
    weight = c.weight
    return (
        func.sum(weight),
        func.sum(weight * c.first_time),
        func.sum(weight * c.answered),
        func.sum(weight * c.missed),
        func.sum(weight * c.lead),
        func.sum(weight * c.deals_won),
        func.sum(weight * c.revenue),
    )


def _settled_credits(
    site_id: uuid.UUID,
    since: datetime,
    until: datetime,
    model: Model,
    pending: Collection[uuid.UUID],
) -> ColumnElement[bool]:
    credit = CallCredit
    condition = and_(
        credit.site_id == site_id,
        credit.model == model.value,
        credit.started_at >= since,
        credit.started_at < until,
    )
    return and_(condition, credit.call_id.not_in(list(pending))) if pending else condition


async def settled_calls_by_channel(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    since: datetime,
    until: datetime,
    level: GroupBy,
    model: Model,
    pending: Collection[uuid.UUID],
) -> dict[Channel, CallFigures]:
    """calls_by_channel from the stored credits, for the calls with no pending change (their
    credits are current; the pending ones are counted directly)."""
    query = (
        select(CallCredit.channel, *credit_sums())
        .where(_settled_credits(site_id, since, until, model, pending))
        .group_by(CallCredit.channel)
    )
    return _folded((await db.execute(query)).all(), level)


async def settled_calls_by_source_and_time(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    since: datetime,
    until: datetime,
    model: Model,
    pending: Collection[uuid.UUID],
) -> list[tuple[datetime, str, float]]:
    """calls_by_source_and_time from the stored credits of the calls with no pending change."""
    bucket = _bucket(db, CallCredit.started_at).label("bucket")
    query = (
        select(bucket, CallCredit.channel, func.sum(CallCredit.weight))
        .where(_settled_credits(site_id, since, until, model, pending))
        .group_by(bucket, CallCredit.channel)
    )
    return [
        (datetime.fromtimestamp(int(at), UTC), decode_key(key).source, float(calls))
        for at, key, calls in (await db.execute(query)).all()
    ]


def _rolled_days(table: Any, site_id: uuid.UUID, days: RolledDays) -> ColumnElement[bool]:
    condition = and_(table.site_id == site_id, table.day >= days.first, table.day <= days.last)
    if days.skip:
        condition = and_(condition, table.day.not_in(sorted(days.skip)))
    return condition


@dataclass(frozen=True, slots=True)
class RolledDays:
    """Local days [first, last] to read from the call rollups, less the stale ones."""

    first: date
    last: date
    skip: frozenset[date]


async def rolled_calls_by_channel(
    db: AsyncSession, *, site_id: uuid.UUID, days: RolledDays, level: GroupBy, model: Model
) -> dict[Channel, CallFigures]:
    """calls_by_channel for whole local days, from the call rollups (app.reports.rollups)."""
    r = CallRollup
    query = (
        select(
            r.channel,
            func.sum(r.calls),
            func.sum(r.first_time),
            func.sum(r.answered),
            func.sum(r.missed),
            func.sum(r.leads),
            func.sum(r.deals_won),
            func.sum(r.revenue),
        )
        .where(_rolled_days(r, site_id, days), r.model == model.value)
        .group_by(r.channel)
    )
    return _folded((await db.execute(query)).all(), level)


async def rolled_calls_by_day(
    db: AsyncSession, *, site_id: uuid.UUID, days: RolledDays, model: Model
) -> list[tuple[date, str, float]]:
    """(local day, credited source, calls) from the call rollups."""
    r = CallRollup
    query = select(r.day, r.channel, r.calls).where(
        _rolled_days(r, site_id, days), r.model == model.value
    )
    return [
        (day, decode_key(key).source, float(calls))
        for day, key, calls in (await db.execute(query)).all()
    ]


async def rolled_revenue_by_currency(
    db: AsyncSession, *, site_id: uuid.UUID, days: RolledDays
) -> dict[str, Decimal]:
    r = RevenueRollup
    query = (
        select(r.currency, func.sum(r.revenue))
        .where(_rolled_days(r, site_id, days))
        .group_by(r.currency)
    )
    return {currency: Decimal(total or 0) for currency, total in (await db.execute(query)).all()}


def _bucket(db: AsyncSession, column: Any) -> ColumnElement[int]:
    """Seconds since the epoch, floored to a quarter hour."""
    return cast(dialect.epoch_seconds(db, column) / BUCKET_S, BigInteger) * BUCKET_S


async def calls_by_source_and_time(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    since: datetime,
    until: datetime,
    model: Model,
    only: Collection[uuid.UUID] | None = None,
) -> list[tuple[datetime, str, float]]:
    """(quarter hour, credited source, calls) for the calls started in [since, until)
    (among `only` when given)."""
    await _without_jit(db)
    credited = credited_calls(site_id, since, until, model=model, level=GroupBy.SOURCE, only=only)
    bucket = _bucket(db, credited.c.started_at).label("bucket")
    query = select(bucket, credited.c.key, func.sum(credited.c.weight)).group_by(
        bucket, credited.c.key
    )
    return [
        (datetime.fromtimestamp(int(at), UTC), decode_key(key).source, float(calls))
        for at, key, calls in (await db.execute(query)).all()
    ]


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


async def form_leads_by_channel(
    db: AsyncSession, *, site_id: uuid.UUID, since: datetime, until: datetime, level: GroupBy
) -> list[tuple[Channel, int]]:
    """Forms sent in the period, counted by their visit's channel."""
    keys = _level(level, FormLead.source, FormLead.medium, FormLead.campaign, FormLead.term)
    query = (
        select(*keys, func.count())
        .where(
            FormLead.site_id == site_id,
            FormLead.created_at >= since,
            FormLead.created_at < until,
        )
        .group_by(*keys)
    )
    return [(Channel.of(*row[:-1]), int(row[-1])) for row in (await db.execute(query)).all()]


async def costs_by_channel(
    db: AsyncSession, *, site_id: uuid.UUID, first_day: date, last_day: date, level: GroupBy
) -> list[tuple[Channel, str, Decimal]]:
    """Ad spend of the days [first_day, last_day] by channel and currency. At the term
    level, spend the platform gave by keyword meets the visits' utm_term; spend without one
    is its campaign's row without a term."""
    keys = _level(level, AdCost.source, AdCost.medium, AdCost.campaign, AdCost.term)
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
    """Won deals of the calls started in [since, until), by call and currency."""
    query = (
        select(Deal.call_id, Deal.currency, func.count(), func.sum(Deal.revenue))
        .join(Call, Call.id == Deal.call_id)
        .where(
            Deal.site_id == site_id,
            Deal.status == "won",
            counted_deal(),
            in_period(site_id, since, until),
        )
        .group_by(Deal.call_id, Deal.currency)
    )
    return [
        WonDeals(call_id=call_id, currency=currency, count=int(count), revenue=Decimal(total or 0))
        for call_id, currency, count, total in (await db.execute(query)).all()
        if call_id is not None  # the join already says so; this tells the type checker
    ]


async def won_revenue_by_currency(
    db: AsyncSession, *, site_id: uuid.UUID, since: datetime, until: datetime
) -> dict[str, Decimal]:
    """Revenue of the won deals of the calls started in [since, until), per currency."""
    query = (
        select(Deal.currency, func.sum(Deal.revenue))
        .join(Call, Call.id == Deal.call_id)
        .where(
            Deal.site_id == site_id,
            Deal.status == "won",
            counted_deal(),
            in_period(site_id, since, until),
        )
        .group_by(Deal.currency)
    )
    return {currency: Decimal(total or 0) for currency, total in (await db.execute(query)).all()}
