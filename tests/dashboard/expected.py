"""The report's figures computed straight from the tables, independently of app.reports, for
the browser tests to hold the pages against (last non-direct touch)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AdCost, Call, Deal, TrackingSession

MOSCOW = ZoneInfo("Europe/Moscow")
LEVELS = {"source": 1, "medium": 2, "campaign": 3, "term": 4}
Key = tuple[str | None, ...]


def span(first: date, last: date) -> tuple[datetime, datetime]:
    since = datetime.combine(first, time(), tzinfo=MOSCOW)
    until = datetime.combine(last + timedelta(days=1), time(), tzinfo=MOSCOW)
    return since, until


@dataclass
class Row:
    sessions: int = 0
    calls: float = 0
    first_time_calls: float = 0
    answered: float = 0
    missed: float = 0
    leads: float = 0
    deals_won: float = 0
    revenue: float = 0
    cost: float | None = None

    @property
    def cost_per_call(self) -> float | None:
        return self.cost / self.calls if self.cost is not None and self.calls else None

    @property
    def romi(self) -> float | None:
        return (self.revenue - self.cost) / self.cost if self.cost else None


async def credited(db: AsyncSession, call: Call) -> tuple[str | None, ...]:
    """The channel last non-direct touch gives the call: its own, unless that was direct and
    the caller came from somewhere real before."""
    if call.attribution_method == "none":
        return ("(none)", "(none)", None, None)
    channel = (call.source, call.medium, call.campaign, call.term)
    if call.source != "(direct)" or call.visitor_id is None:
        return channel
    earlier = (
        await db.execute(
            select(TrackingSession)
            .where(
                TrackingSession.visitor_id == call.visitor_id,
                TrackingSession.started_at <= call.started_at,
                TrackingSession.source != "(direct)",
            )
            .order_by(TrackingSession.started_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if earlier is None:
        return channel
    return (earlier.source, earlier.medium, earlier.campaign, earlier.term)


def _key(level: str, *values: str | None) -> Key:
    return tuple(v or None for v in values[: LEVELS[level]])


async def report(
    db: AsyncSession, *, site_id: uuid.UUID, first: date, last: date, level: str
) -> dict[Key, Row]:
    since, until = span(first, last)
    rows: dict[Key, Row] = defaultdict(Row)
    sessions = (
        await db.execute(
            select(TrackingSession).where(
                TrackingSession.site_id == site_id,
                TrackingSession.started_at >= since,
                TrackingSession.started_at < until,
                TrackingSession.is_bot.is_(False),
            )
        )
    ).scalars()
    for s in sessions:
        rows[_key(level, s.source, s.medium, s.campaign, s.term)].sessions += 1
    calls = list(
        (
            await db.execute(
                select(Call).where(
                    Call.site_id == site_id, Call.started_at >= since, Call.started_at < until
                )
            )
        ).scalars()
    )
    won: dict[uuid.UUID, list[Deal]] = defaultdict(list)
    for deal in (await db.execute(select(Deal).where(Deal.status == "won"))).scalars():
        if deal.call_id is not None:
            won[deal.call_id].append(deal)
    for call in calls:
        channel = await credited(db, call)
        row = rows[_key(level, *channel)]
        answered = call.outcome == "answered" or call.status == "answered"
        row.calls += 1
        row.first_time_calls += call.first_time_caller
        row.answered += answered
        row.missed += call.status == "ended" and call.outcome != "answered"
        row.leads += answered and not call.possible_spam
        row.deals_won += len(won[call.id])
        row.revenue += float(sum((d.revenue for d in won[call.id]), Decimal(0)))
    costs = (
        await db.execute(
            select(AdCost).where(AdCost.site_id == site_id, AdCost.day >= first, AdCost.day <= last)
        )
    ).scalars()
    for cost in costs:
        # At the term level spend without a keyword is its campaign's row without a term.
        row = rows[_key(level, cost.source, cost.medium, cost.campaign, cost.term)]
        row.cost = (row.cost or 0.0) + float(cost.cost)
    return dict(rows)


async def calls_by_day(
    db: AsyncSession, *, site_id: uuid.UUID, first: date, last: date
) -> dict[tuple[str, str], float]:
    """(local day, source) -> calls, under last non-direct touch."""
    since, until = span(first, last)
    found: dict[tuple[str, str], float] = defaultdict(float)
    calls = list(
        (
            await db.execute(
                select(Call).where(
                    Call.site_id == site_id, Call.started_at >= since, Call.started_at < until
                )
            )
        ).scalars()
    )
    for call in calls:
        source = (await credited(db, call))[0] or "(none)"
        found[(call.started_at.astimezone(MOSCOW).date().isoformat(), source)] += 1
    return dict(found)
