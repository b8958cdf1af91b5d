"""Report periods: `from` / `to` as a user writes them, turned into a half-open UTC range.

A marketer thinks in days of the site's own time zone: `from=2026-11-01&to=2026-11-30` is the
whole of November in Moscow, both days included. Datetimes are taken as written (a naive one
in the site's zone) and `to` is then exclusive, as in the call list.

Bounds lie within 2000-01-01..2100-01-01: outside them lie no calls, only the edges of
Python's datetime (`to=9999-12-31` plus a day overflowed into a 500) and 100-year scans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.exceptions import InvalidField

DEFAULT_DAYS = 30
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 1, 1)
# "...T10:00+03:00" pasted into a URL unencoded arrives with the "+" decoded to a space.
_DECODED_PLUS = re.compile(r" (\d{2}(?::?\d{2})?)$")


@dataclass(frozen=True, slots=True)
class Period:
    since: datetime  # inclusive, UTC
    until: datetime  # exclusive, UTC
    zone: ZoneInfo

    @property
    def first_day(self) -> date:
        return self.since.astimezone(self.zone).date()

    @property
    def last_day(self) -> date:
        """The last local day the period touches (days are what ad costs are booked by)."""
        return (self.until - timedelta(microseconds=1)).astimezone(self.zone).date()


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


def _within_window(day: date, raw: str, field: str) -> None:
    if not EARLIEST <= day <= LATEST:
        raise InvalidField(field, f"{raw!r} is outside {EARLIEST}..{LATEST}")


def parse_bound(raw: str, zone: ZoneInfo, *, field: str, end: bool) -> datetime:
    """One bound as written: a date (`to` then includes its own day) or a datetime (naive:
    in `zone`); a 422 naming `field` when it is neither or lies outside the window."""
    text = _DECODED_PLUS.sub(r"+\1", raw.strip())
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            pass
        else:
            _within_window(day, raw, field)
            # A date bound means whole days: `to` includes its own day.
            return _start_of(day + timedelta(days=1) if end else day, zone)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidField(
            field, f"{raw!r} is not an ISO date (2026-11-01) or datetime (2026-11-01T09:00Z)"
        ) from exc
    _within_window(moment.date(), raw, field)
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def resolve_bounds(
    raw_from: str | None, raw_to: str | None, *, timezone: str
) -> tuple[datetime | None, datetime | None]:
    """`from` / `to` read as a period's are, each optional (no bound: no limit), in UTC."""
    zone = ZoneInfo(timezone)
    since = parse_bound(raw_from, zone, field="from", end=False) if raw_from else None
    until = parse_bound(raw_to, zone, field="to", end=True) if raw_to else None
    since, until = since and since.astimezone(UTC), until and until.astimezone(UTC)
    if since is not None and until is not None and since >= until:
        raise InvalidField("to", "must be after from")
    return since, until


def resolve_period(
    raw_from: str | None, raw_to: str | None, *, timezone: str, now: datetime
) -> Period:
    """The period a request asks for; without bounds, the last 30 local days up to today."""
    zone = ZoneInfo(timezone)
    # Read in the order written, so a request with two bad bounds hears of `from` first.
    given_since = None if raw_from is None else parse_bound(raw_from, zone, field="from", end=False)
    if raw_to is not None:
        until = parse_bound(raw_to, zone, field="to", end=True)
    else:
        until = _start_of(now.astimezone(zone).date() + timedelta(days=1), zone)
    if given_since is not None:
        since = given_since
    else:
        since = _start_of((until - timedelta(days=DEFAULT_DAYS)).astimezone(zone).date(), zone)
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    if since >= until:
        if raw_to is None:
            raise InvalidField("from", "must be before the end of today")
        raise InvalidField("to", "must be after from")
    return Period(since=since, until=until, zone=zone)
