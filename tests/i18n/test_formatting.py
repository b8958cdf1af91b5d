"""Numbers, money, dates and plurals the way each language writes them (Babel, CLDR)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from app.i18n import formatting as f
from app.i18n import gettext, lazy_gettext, ngettext, use_language

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("language", "expected"),
    [("ru", f"1{NBSP}234,50{NBSP}₽"), ("en", "RUB1,234.50"), ("es", f"1.234,50{NBSP}RUB")],
)
def test_money_in_the_sites_currency(language: str, expected: str) -> None:
    with use_language(language):
        assert f.money(Decimal("1234.5"), "RUB") == expected


def test_every_sum_has_two_decimals_whatever_it_is() -> None:
    with use_language("ru"):
        assert f.money(45000) == f"45{NBSP}000,00"
        assert f.money(Decimal("45000.00")) == f"45{NBSP}000,00"
        assert f.money(None) == "—"
    with use_language("en"):
        assert f.money(45000) == "45,000.00"
    with use_language("es"):
        assert f.money(45000) == "45.000,00"


def test_numbers_and_percentages() -> None:
    with use_language("ru"):
        assert f.number(1234567) == f"1{NBSP}234{NBSP}567"
        assert f.percent(4.33, 0) == f"433{NBSP}%"
        assert f.percent(0.125) == f"12,5{NBSP}%"
    with use_language("en"):
        assert f.number(1234567) == "1,234,567"
        assert f.percent(4.33, 0) == "433%"
    with use_language("es"):
        assert f.percent(0.125) == f"12,5{NBSP}%"


def test_days_and_moments_in_the_sites_time_zone() -> None:
    moment = datetime(2026, 11, 12, 21, 30, tzinfo=UTC)  # already the 13th in Moscow
    with use_language("ru"):
        assert f.day(date(2026, 11, 12)) == "12 нояб. 2026\u202fг."
        assert f.day(moment, "Europe/Moscow") == "13 нояб. 2026\u202fг."
        assert f.moment(moment, "Europe/Moscow") == "13 нояб. 2026\u202fг., 00:30"
        assert f.clock(moment, "Europe/Moscow") == "00:30:00"
    with use_language("en"):
        assert f.day(date(2026, 11, 12)) == "Nov 12, 2026"
        assert f.moment(moment, "UTC") == "Nov 12, 2026, 9:30\u202fPM"
    with use_language("es"):
        assert f.day(date(2026, 11, 12)) == "12 nov 2026"
        assert f.moment(moment, "UTC", seconds=True) == "12 nov 2026, 21:30:00"


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, "1 звонок"), (2, "2 звонка"), (5, "5 звонков"), (11, "11 звонков"), (21, "21 звонок")],
)
def test_russian_plural_forms(n: int, expected: str) -> None:
    with use_language("ru"):
        assert ngettext("%(num)s call", "%(num)s calls", n) == expected


def test_spanish_and_english_plurals() -> None:
    with use_language("es"):
        assert ngettext("%(num)s call", "%(num)s calls", 1) == "1 llamada"
        assert ngettext("%(num)s call", "%(num)s calls", 3) == "3 llamadas"
    with use_language("en"):
        assert ngettext("%(num)s call", "%(num)s calls", 1) == "1 call"
        assert ngettext("%(num)s call", "%(num)s calls", 3) == "3 calls"


def test_a_fraction_of_a_call_reads_as_a_plural() -> None:
    with use_language("ru"):
        assert ngettext("%(num)s call", "%(num)s calls", 1.5, num="1,5") == "1,5 звонка"


def test_gettext_formats_its_placeholders() -> None:
    with use_language("ru"):
        assert gettext("Pool for %(number)s", number="+7 495") == "Пул для +7 495"


def test_a_lazy_text_speaks_the_language_of_whoever_reads_it() -> None:
    text = lazy_gettext("First touch")
    with use_language("ru"):
        assert str(text) == "Первый переход"
    with use_language("es"):
        assert str(text) == "Primer toque"
    assert str(text) == "First touch"  # outside a request: English


def test_an_unknown_language_is_english() -> None:
    with use_language("xx"):
        assert gettext("Sign in") == "Sign in"
