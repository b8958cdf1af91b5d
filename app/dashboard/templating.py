"""The Jinja2 environment of the dashboard: autoescaped, strict about undefined names, gettext
in the request's language, and the filters that write numbers, money, dates, durations and
phone numbers for people (app.i18n.formatting)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from pathlib import Path

import jinja2
import phonenumbers
from markupsafe import Markup

from app.i18n import LANGUAGE_NAMES, LANGUAGES, catalogs, formatting
from app.i18n.formatting import zone

__all__ = ["STATIC", "STATIC_PREFIX", "TEMPLATES", "environment", "zone"]

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_PREFIX = "/dashboard/static"


def local_time(moment: datetime | None, timezone: str = "UTC", fmt: str | None = None) -> str:
    """A moment in the site's time zone, written in the reader's language: marketers think in
    their business's local days. `fmt` picks the parts: "%H:%M:%S" the time alone,
    "%Y-%m-%d" the day alone, one with "%S" to the second; the rest day and minute."""
    if fmt == "%Y-%m-%d":
        return formatting.day(moment, timezone)
    if fmt == "%H:%M:%S":
        return formatting.clock(moment, timezone)
    if fmt == "%d %b %H:%M":
        return formatting.short_moment(moment, timezone)
    return formatting.moment(moment, timezone, seconds=bool(fmt and "%S" in fmt))


def duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


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
    # The request's language (app.i18n), looked up at each call: one environment serves all.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        catalogs.jinja_gettext, catalogs.jinja_ngettext, newstyle=True
    )
    env.filters.update(
        number=formatting.number,
        money=formatting.money,
        percent=formatting.percent,
        day=formatting.day,
        moment=formatting.moment,
        clock=formatting.clock,
        duration=duration,
        local=local_time,
        phone=phone,
        phone_text=phone_text,
    )
    env.globals.update(
        static_url=static_url,
        current_language=catalogs.current_language,
        languages=LANGUAGES,
        language_names=LANGUAGE_NAMES,
    )
    return env
