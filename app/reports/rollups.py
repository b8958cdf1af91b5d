"""Keeping the reports' precomputed rows in step with calls, deals and visits (issue 19).

- Call credits (app.models.report_rollup.CallCredit) hold, per call and model, the channels
  it credits and its figures, from the same SQL the direct computation runs. The call and
  deal write paths note each change (`note_changed_calls`, in their transaction); the worker
  rewrites the noted calls' credits and the call rollups of their days (`roll_calls`), and
  reports count the days with a pending change directly meanwhile. A site's rows are first
  built by the worker (`rebuild_calls`), a month of calls per transaction.
- Visit rollups hold the sessions of days that are over; the worker adds each day once it
  has ended (`roll_visits`), and the reports count the rest of a period from the visits.
- Reports read these rows only while the site's state says they hold (`usable`): until the
  first build is over, or after the currency or time zone changed, they compute directly.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    String,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import (
    Call,
    CallCredit,
    CallRollup,
    CreditChange,
    Deal,
    ReportRollupState,
    RevenueRollup,
    Site,
    TrackingSession,
    VisitRollup,
)
from app.reports.attribution_models import Model
from app.reports.credits import channel_key, credited_where
from app.reports.local_days import start_of_day
from app.reports.repository import counted_deal, credit_sums, won_by_call

log = logging.getLogger(__name__)

FULL_DEPTH = 4
# A day is rolled up this long after it ended: a visit is written a moment after it starts.
VISITS_SETTLE = timedelta(minutes=10)
_CREDIT_COLUMNS = [
    "call_id",
    "model",
    "channel",
    "site_id",
    "started_at",
    "weight",
    "first_time",
    "answered",
    "missed",
    "lead",
    "deals_won",
    "revenue",
]


def _won_by_call(where: ColumnElement[bool]) -> Any:
    """Won deals per call of `where`, and their revenue in the call's site's currency."""
    currency = select(Site.currency).where(Site.id == Deal.site_id).scalar_subquery()
    return won_by_call(where, currency)


def _credit_rows(where: ColumnElement[bool], model: Model) -> Select[Any]:
    """call_credits rows of the calls `where` says, under `model`: one per credited channel."""
    credited = credited_where(where, model=model, depth=FULL_DEPTH)
    won = _won_by_call(where)
    c = credited.c
    return (
        select(
            c.call_id,
            literal(model.value, String).label("model"),
            c.key,
            c.site_id,
            c.started_at,
            func.sum(c.weight),
            func.max(c.first_time),
            func.max(c.answered),
            func.max(c.missed),
            func.max(c.lead),
            func.coalesce(func.max(won.c.deals), 0),
            func.coalesce(func.max(won.c.revenue), 0),
        )
        .select_from(credited)
        .outerjoin(won, won.c.call_id == c.call_id)
        .group_by(c.call_id, c.key, c.site_id, c.started_at)
    )


async def _write_credits(db: AsyncSession, where: ColumnElement[bool]) -> None:
    await db.execute(delete(CallCredit).where(CallCredit.call_id.in_(select(Call.id).where(where))))
    rows = union_all(*(_credit_rows(where, model) for model in Model))
    await db.execute(insert(CallCredit).from_select(_CREDIT_COLUMNS, rows))


# Noting a change, built once: building the statement per event cost more than running it.
_CHANGES = cast(Table, CreditChange.__table__)
_ONE_CALL = Call.id == bindparam("b_call")
_NOTE_CHANGE = insert(_CHANGES).from_select(
    ["call_id", "site_id", "started_at"],
    select(Call.id, Call.site_id, Call.started_at).where(_ONE_CALL),
)
_NOTE_MOVE = insert(_CHANGES).from_select(
    ["call_id", "site_id", "started_at"],
    select(Call.id, Call.site_id, bindparam("b_at", type_=Call.started_at.type)).where(_ONE_CALL),
)


async def note_changed_calls(
    db: AsyncSession, call_ids: Collection[uuid.UUID], *, moved_from: datetime | None = None
) -> None:
    """Note that these calls or their deals changed: the worker rewrites their credits and
    their days' rollups, and until then reports count those days directly. Call it in the
    transaction of the change (one insert per call: nothing waits on anything);
    `moved_from`: when the calls started before this change (that day changed too).

    Computing the credits here instead cost a webhook a third of its throughput
    (bench/pbx_webhooks.py, docs/benchmarks.md)."""
    for call_id in call_ids:
        await db.execute(_NOTE_CHANGE, {"b_call": call_id})
        if moved_from is not None:
            await db.execute(_NOTE_MOVE, {"b_call": call_id, "b_at": moved_from})


# --- state -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usable:
    """What a report may read for one site: the credits and call rollups, and visit rollups
    up to a day."""

    credits: bool
    visits_until: date | None  # rolled-up days lie before it; None: no rolled-up day


async def usable(db: AsyncSession, site: Site) -> Usable:
    state = await db.get(ReportRollupState, site.id)
    if state is None:
        return Usable(credits=False, visits_until=None)
    rolled = state.visits_zone == site.timezone and state.visits_until is not None
    return Usable(
        credits=state.calls_currency == site.currency and state.calls_zone == site.timezone,
        visits_until=state.visits_until if rolled else None,
    )


# Past this many pending calls (a CRM sync that touched a month of deals) a stale day is counted
# directly rather than naming every pending call in the query; past this many pending changes
# (a worker that has been down) every day is, rather than reading them all for each report.
PENDING_CALLS_NAMED = 1_000
PENDING_CHANGES_READ = 20_000


@dataclass(frozen=True, slots=True)
class Pending:
    """The changes the worker has not rolled up yet."""

    days: frozenset[date] | None  # local days whose call rollups lag behind; None: any day
    calls: frozenset[uuid.UUID] | None  # the calls whose credits lag; None: too many to name


async def pending(db: AsyncSession, site: Site) -> Pending:
    zone = ZoneInfo(site.timezone)
    rows = (
        await db.execute(
            select(CreditChange.call_id, CreditChange.started_at)
            .where(CreditChange.site_id == site.id)
            .limit(PENDING_CHANGES_READ + 1)
        )
    ).all()
    if len(rows) > PENDING_CHANGES_READ:
        return Pending(days=None, calls=None)
    calls = frozenset(call_id for call_id, _ in rows)
    return Pending(
        days=frozenset(at.astimezone(zone).date() for _, at in rows),
        calls=calls if len(calls) <= PENDING_CALLS_NAMED else None,
    )


async def _state(db: AsyncSession, site_id: uuid.UUID, now: datetime) -> ReportRollupState:
    state = await db.get(ReportRollupState, site_id, with_for_update=True)
    if state is None:
        state = ReportRollupState(site_id=site_id, updated_at=now)
        db.add(state)
        await db.flush()
    return state


# --- building --------------------------------------------------------------------------------


async def rebuild_calls(
    sessionmaker: async_sessionmaker[AsyncSession], site_id: uuid.UUID, *, now: datetime
) -> int:
    """Write the credits of every call of the site, a month of calls per transaction, then
    mark them usable. Calls changed meanwhile are noted: roll_calls rewrites them after.
    Returns the calls done."""
    async with sessionmaker() as db:
        site = await db.get(Site, site_id)
        if site is None:
            return 0
        currency = site.currency
        first, last = (
            await db.execute(
                select(func.min(Call.started_at), func.max(Call.started_at)).where(
                    Call.site_id == site_id
                )
            )
        ).one()
        zone_name = site.timezone
    done = 0
    if first is not None and last is not None:
        since = first
        while since <= last:
            until = since + timedelta(days=31)
            window = and_(
                Call.site_id == site_id, Call.started_at >= since, Call.started_at < until
            )
            async with sessionmaker() as db, db.begin():
                # No lock: a call changed meanwhile has noted it, and roll_calls rewrites it.
                done += await db.scalar(select(func.count()).select_from(Call).where(window)) or 0
                await _write_credits(db, window)
            since = until
        zone = ZoneInfo(zone_name)
        day, last_day = first.astimezone(zone).date(), last.astimezone(zone).date()
        while day <= last_day:
            async with sessionmaker() as db, db.begin():
                for _ in range(31):  # a month of days per transaction
                    if day > last_day:
                        break
                    await _roll_call_day(db, site_id, day, zone)
                    day += timedelta(days=1)
    async with sessionmaker() as db, db.begin():
        state = await _state(db, site_id, now)
        state.calls_currency, state.calls_zone = currency, zone_name
        state.updated_at = now
    return done


async def _roll_call_day(db: AsyncSession, site_id: uuid.UUID, day: date, zone: ZoneInfo) -> None:
    """Rewrite the day's call and revenue rollups from the credits and the won deals."""
    since, until = start_of_day(day, zone), start_of_day(day + timedelta(days=1), zone)
    for table in (CallRollup, RevenueRollup):
        await db.execute(delete(table).where(table.site_id == site_id, table.day == day))
    c = CallCredit
    credits = (
        select(literal(site_id), literal(day, Date), c.model, c.channel, *credit_sums())
        .where(c.site_id == site_id, c.started_at >= since, c.started_at < until)
        .group_by(c.model, c.channel)
    )
    names = ["site_id", "day", "model", "channel", "calls", "first_time", "answered"]
    names += ["missed", "leads", "deals_won", "revenue"]
    await db.execute(insert(CallRollup).from_select(names, credits))
    revenue = (
        select(literal(site_id), literal(day, Date), Deal.currency, func.sum(Deal.revenue))
        .join(Call, Call.id == Deal.call_id)
        .where(
            Deal.site_id == site_id,
            Deal.status == "won",
            counted_deal(),
            Call.site_id == site_id,
            Call.started_at >= since,
            Call.started_at < until,
        )
        .group_by(Deal.currency)
    )
    await db.execute(
        insert(RevenueRollup).from_select(["site_id", "day", "currency", "revenue"], revenue)
    )


CHANGES_PER_ROUND = 2_000
CALLS_PER_STATEMENT = 500  # within every database's limit of bound parameters


async def roll_calls(
    sessionmaker: async_sessionmaker[AsyncSession], site_id: uuid.UUID, *, now: datetime
) -> int:
    """Rewrite the credits of the calls the change log names and the rollups of their days,
    then forget those changes (only the ones read: a change committed meanwhile stays for the
    next round, and keeps its day counted directly until then). Returns the days rewritten."""
    rewritten = 0
    while True:
        async with sessionmaker() as db, db.begin():
            # Locked: a second worker waits here, then finds the changes gone.
            state = await db.get(ReportRollupState, site_id, with_for_update=True)
            if state is None or state.calls_zone is None:
                return rewritten  # not built yet: the build covers them
            zone = ZoneInfo(state.calls_zone)
            changes = (
                await db.execute(
                    select(CreditChange.id, CreditChange.call_id, CreditChange.started_at)
                    .where(CreditChange.site_id == site_id)
                    .order_by(CreditChange.id)
                    .limit(CHANGES_PER_ROUND)
                )
            ).all()
            if not changes:
                return rewritten
            calls = sorted({call_id for _, call_id, _ in changes})
            for at in range(0, len(calls), CALLS_PER_STATEMENT):
                await _write_credits(db, Call.id.in_(calls[at : at + CALLS_PER_STATEMENT]))
            for day in sorted({started.astimezone(zone).date() for _, _, started in changes}):
                await _roll_call_day(db, site_id, day, zone)
                rewritten += 1
            done = [change_id for change_id, _, _ in changes]
            for at in range(0, len(done), CALLS_PER_STATEMENT):
                chunk = done[at : at + CALLS_PER_STATEMENT]
                await db.execute(delete(CreditChange).where(CreditChange.id.in_(chunk)))
            state.updated_at = now


def _settled_day(zone: ZoneInfo, now: datetime) -> date:
    """The first local day not over yet (with time for its last visits to be written)."""
    return (now - VISITS_SETTLE).astimezone(zone).date()


async def _roll_day(db: AsyncSession, site_id: uuid.UUID, day: date, zone: ZoneInfo) -> None:
    s = TrackingSession
    columns = (s.source, s.medium, s.campaign, s.term)
    rows = (
        select(
            literal(site_id),
            literal(day, Date),
            channel_key(columns),
            *columns,
            func.count(),
        )
        .where(
            s.site_id == site_id,
            s.started_at >= start_of_day(day, zone),
            s.started_at < start_of_day(day + timedelta(days=1), zone),
            s.is_bot.is_(False),
        )
        .group_by(*columns)
    )
    await db.execute(
        delete(VisitRollup).where(VisitRollup.site_id == site_id, VisitRollup.day == day)
    )
    names = ["site_id", "day", "channel", "source", "medium", "campaign", "term", "sessions"]
    await db.execute(insert(VisitRollup).from_select(names, rows))


async def roll_visits(
    sessionmaker: async_sessionmaker[AsyncSession], site_id: uuid.UUID, *, now: datetime
) -> int:
    """Roll up every day of the site's visits that is over and not rolled up yet, a day per
    transaction (a long backlog keeps what it did if stopped). Returns the days rolled."""
    async with sessionmaker() as db, db.begin():
        site = await db.get(Site, site_id)
        if site is None:
            return 0
        zone_name = site.timezone
        state = await _state(db, site_id, now)
        if state.visits_zone != zone_name:
            # Days of another zone are other days: start again.
            await db.execute(delete(VisitRollup).where(VisitRollup.site_id == site_id))
            state.visits_zone, state.visits_until = zone_name, None
        start = state.visits_until
        if start is None:
            first = await db.scalar(
                select(func.min(TrackingSession.started_at)).where(
                    TrackingSession.site_id == site_id
                )
            )
            zone = ZoneInfo(zone_name)
            start = first.astimezone(zone).date() if first is not None else _settled_day(zone, now)
            state.visits_until = start
    zone = ZoneInfo(zone_name)
    end = _settled_day(zone, now)
    day, rolled = start, 0
    while day < end:
        async with sessionmaker() as db, db.begin():
            state = await _state(db, site_id, now)
            if state.visits_zone != zone_name or state.visits_until != day:
                break  # another worker got here first, or the zone changed meanwhile
            await _roll_day(db, site_id, day, zone)
            state.visits_until = day + timedelta(days=1)
            state.updated_at = now
        day, rolled = day + timedelta(days=1), rolled + 1
    return rolled


async def _sites_behind(
    db: AsyncSession, now: datetime
) -> list[tuple[uuid.UUID, bool, bool, bool]]:
    """(site, credits to build, changes to roll, visits to roll) for the sites with work."""
    state = ReportRollupState
    changed = set(await db.scalars(select(CreditChange.site_id).distinct()))
    rows = await db.execute(
        select(Site.id, Site.currency, Site.timezone, state).outerjoin(
            state, state.site_id == Site.id
        )
    )
    behind = []
    for site_id, currency, timezone, row in rows.all():
        calls = row is None or row.calls_currency != currency or row.calls_zone != timezone
        visits = (
            row is None
            or row.visits_zone != timezone
            or row.visits_until is None
            or row.visits_until < _settled_day(ZoneInfo(timezone), now)
        )
        if calls or visits or site_id in changed:
            behind.append((site_id, calls, site_id in changed, visits))
    return behind


async def keep_rollups(
    sessionmaker: async_sessionmaker[AsyncSession],
    _client: httpx.AsyncClient,
    now: datetime,
    _sleep: Callable[[float], Awaitable[None]],
) -> int:
    """The worker step: build what a site lacks, roll up the days that ended. Returns the
    calls and days done."""
    async with sessionmaker() as db:
        behind = await _sites_behind(db, now)
    done = 0
    for site_id, calls, changes, visits in behind:
        if calls:
            done += await rebuild_calls(sessionmaker, site_id, now=now)
            log.info("report credits built for site %s", site_id)
        if changes or calls:
            done += await roll_calls(sessionmaker, site_id, now=now)
        if visits:
            done += await roll_visits(sessionmaker, site_id, now=now)
    return done
