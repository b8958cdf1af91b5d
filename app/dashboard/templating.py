"""The Jinja2 environment of the dashboard: autoescaped, strict about undefined names, and the
few filters that turn numbers, money, durations and phone numbers into readable text."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import phonenumbers
from markupsafe import Markup

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_PREFIX = "/dashboard/static"
# Thin no-break space: groups digits the way both Russian and English readers accept.
_GROUP = "\u202f"


def number(value: int | float | Decimal | None, places: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{places}f}".replace(",", _GROUP)


def money(value: int | float | Decimal | None, currency: str | None = None, places: int = 2) -> str:
    if value is None:
        return "—"
    text = number(value, places)
    return f"{text} {currency}" if currency else text


def percent(value: float | None, places: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.{places}f}{_GROUP}%"


def duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


@cache
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(moment: datetime | None, timezone: str = "UTC", fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment in the site's time zone: marketers think in their business's local days."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone(timezone)).strftime(fmt)


def phone_text(value: str | None) -> str:
    """E.164 written for people (+7 495 123-45-67); anything else as it came."""
    if not value:
        return "—"
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def phone(value: str | None) -> Markup:
    """The number for people, in a `tel` span: the stylesheet never lets it break across
    lines (a number split at a space reads as two), and the phone-width test finds it."""
    return Markup('<span class="tel">{}</span>').format(phone_text(value))


@cache
def _static_version(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """The URL of a static file with its content hash, so browsers may cache it for long."""
    return f"{STATIC_PREFIX}/{name}?v={_static_version(name)}"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        # Every template is HTML or SVG: escape everything, always.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Every string people read goes through gettext: {{ _("...") }}.
        extensions=["jinja2.ext.i18n"],
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        number=number,
        money=money,
        percent=percent,
        duration=duration,
        local=local_time,
        phone=phone,
        phone_text=phone_text,
    )
    env.globals.update(static_url=static_url)
    return env
