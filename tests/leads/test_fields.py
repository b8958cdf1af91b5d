"""What of a form is kept, whoever posts it: never a secret, a card number or a code."""

from __future__ import annotations

import pytest

from app.leads.fields import MAX_VALUE, is_secret_name, kept_fields, looks_like_card


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "user[pass]",
        "Пароль",
        "contraseña",
        "card_number",
        "cc-exp",
        "cvv",
        "CVC2",
        "security_code",
        "csrf_token",
        "_wpnonce",
        "g-recaptcha-response",
        "otp",
        "pin",
        "iban",
        "snils",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["name", "phone", "email", "message", "shipping", "city", "comment"]
)
def test_ordinary_names(name: str) -> None:
    assert not is_secret_name(name)


def test_card_numbers_are_found_however_spaced() -> None:
    assert looks_like_card("4111 1111 1111 1111")
    assert looks_like_card("5500-0000-0000-0004")
    assert not looks_like_card("4111 1111 1111 1112")  # fails the Luhn check
    assert not looks_like_card("+7 916 123-45-67")
    assert not looks_like_card("12345")


def test_kept_fields_are_text_cut_to_size() -> None:
    kept = kept_fields(
        {
            "comment": "x" * (MAX_VALUE + 10),
            "agree": True,
            "count": 3,
            "colours": ["red", "blue"],
            "nested": {"a": 1},
            "empty": "  ",
            "nul\x00": "a\x00b",
            "notes": "4111111111111111",
        }
    )

    assert kept == {
        "comment": "x" * MAX_VALUE,
        "agree": "yes",
        "count": "3",
        "colours": "red, blue",
        "nul": "ab",
    }
