"""Numbers, money, percentages and dates the way the request's language writes them (Babel,
CLDR data): "1 234,50 ₽" in Russian, "₽1,234.50" in English, "1234,50 RUB" in Spanish.

Babel separates groups with no-break spaces (U+00A0, U+202F), so a sum never wraps mid-number.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date as _format_date
from babel.dates import format_datetime as _format_datetime
from babel.dates import format_time as _format_time
from babel.dates import get_datetime_format
from babel.numbers import format_currency, format_decimal, format_percent

from app.i18n.catalogs import current_language

Number = int | float | Decimal
DASH = "—"


@cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)


def locale() -> Locale:
    return _locale(current_language())


def _with_places(pattern: str, places: int) -> str:
    return pattern.replace("#,##0", "#,##0." + "0" * places, 1) if places else pattern


def number(value: Number | None, places: int = 0) -> str:
    if value is None:
        return DASH
    return format_decimal(value, format=_with_places("#,##0", places), locale=locale())


def money(value: Number | None, currency: str | None = None, places: int | None = None) -> str:
    """One way for every sum on every page: two decimals, the currency's sign when known.
    `places` is accepted and ignored, so that no page writes its sums another way."""
    if value is None:
        return DASH
    if currency:
        return format_currency(value, currency, locale=locale(), currency_digits=False)
    return number(value, 2)


def percent(value: float | None, places: int = 1) -> str:
    if value is None:
        return DASH
    # The language's own pattern ("433 %" in Russian and Spanish), with our decimals.
    pattern = _with_places(locale().percent_formats[None].pattern, places)
    return format_percent(value, format=pattern, locale=locale())


@cache
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(moment: datetime, timezone: str) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone(timezone))


def day(value: date | datetime | None, timezone: str = "UTC", width: str = "medium") -> str:
    """A day in the language's medium form: "Nov 12, 2026", "12 nov 2026"."""
    if value is None:
        return DASH
    if isinstance(value, datetime):
        value = _local(value, timezone).date()
    return _format_date(value, width, locale=locale())


def moment(value: datetime | None, timezone: str = "UTC", seconds: bool = False) -> str:
    """A moment in the site's time zone, its day written out and the time to the minute."""
    if value is None:
        return DASH
    local = _local(value, timezone)
    when = _format_date(local.date(), "medium", locale=locale())
    time = _format_time(local.time(), "medium" if seconds else "short", locale=locale())
    joined = str(get_datetime_format("medium", locale=locale()))
    return joined.replace("{1}", when).replace("{0}", time)


def clock(value: datetime | None, timezone: str = "UTC", seconds: bool = True) -> str:
    if value is None:
        return DASH
    return _format_time(
        _local(value, timezone).time(), "medium" if seconds else "short", locale=locale()
    )


def short_moment(value: datetime | None, timezone: str = "UTC") -> str:
    """Day and month and time, for lists of recent calls: "12 нояб., 14:05"."""
    if value is None:
        return DASH
    return _format_datetime(_local(value, timezone), "d MMM, HH:mm", locale=locale())
