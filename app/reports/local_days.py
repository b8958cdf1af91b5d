"""A period cut into the whole local days a daily rollup can answer and the edges it cannot.

Rollups hold one row per site, local day and channel. A period from the dashboard starts and
ends at local midnights, so it is whole days only; a period from the API may start or end in
the middle of a day, and those partial days are counted directly from the raw rows instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class LocalDays:
    # The whole local days [first_day, last_day] inside the period; None when there are none.
    first_day: date | None
    last_day: date | None
    # The rest of the period as half-open UTC ranges, at most one before and one after the days.
    edges: tuple[tuple[datetime, datetime], ...]


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant local `day` starts at (a day may be 23 or 25 hours long)."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def split_period(since: datetime, until: datetime, zone: ZoneInfo) -> LocalDays:
    """[since, until) as whole local days in `zone` plus the partial edges around them."""
    first = since.astimezone(zone).date()
    if start_of_day(first, zone) < since:
        first += timedelta(days=1)
    end = until.astimezone(zone).date()  # the day after the last whole day
    if start_of_day(end + timedelta(days=1), zone) <= until:
        end += timedelta(days=1)
    if first >= end:
        return LocalDays(first_day=None, last_day=None, edges=((since, until),))
    edges = []
    days_start, days_end = start_of_day(first, zone), start_of_day(end, zone)
    if since < days_start:
        edges.append((since, days_start))
    if days_end < until:
        edges.append((days_end, until))
    return LocalDays(first_day=first, last_day=end - timedelta(days=1), edges=tuple(edges))
