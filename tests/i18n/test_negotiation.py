"""Which language a request gets: the user's setting, else this browser's choice, else
Accept-Language, else CALLSOURCE_LANGUAGE."""

from __future__ import annotations

import pytest

from app.i18n import accept_language_match, choose_language


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
        ("es-AR,es;q=0.9", "es"),
        ("de-DE,de;q=0.9,es;q=0.5,en;q=0.4", "es"),  # the best one we have
        ("en;q=0.3, ru;q=0.8", "ru"),  # by quality, not by order
        ("ru;q=0.8, es;q=0.8", "ru"),  # a tie: the first
        ("RU", "ru"),
        ("ru;q=0, en", "en"),  # q=0: not acceptable
        ("ru;q=oops, es", "es"),
        ("fr-FR,de", None),
        ("*", None),
        ("", None),
        (None, None),
    ],
)
def test_accept_language_picks_the_best_of_ours(header: str | None, language: str | None) -> None:
    assert accept_language_match(header) == language


def test_the_users_setting_beats_everything() -> None:
    assert choose_language(user="es", chosen="en", accept_language="ru", default="en") == "es"


def test_a_browsers_choice_beats_accept_language() -> None:
    assert choose_language(user=None, chosen="en", accept_language="ru", default="es") == "en"


def test_accept_language_beats_the_setting() -> None:
    assert choose_language(user=None, chosen=None, accept_language="ru", default="es") == "ru"


def test_the_setting_when_nothing_else_decides() -> None:
    assert choose_language(user=None, chosen=None, accept_language="fr", default="es") == "es"


def test_unknown_values_are_passed_over() -> None:
    # An old cookie or a mistyped CALLSOURCE_LANGUAGE never breaks a page.
    assert choose_language(user="xx", chosen="zz", accept_language="fr", default="de") == "en"
