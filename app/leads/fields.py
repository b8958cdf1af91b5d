"""What of a submitted form is kept: never a password, card, one-time code or hidden token,
whatever the snippet sent (a site's own code may post anything); the rest cut to size."""

from __future__ import annotations

import re
from typing import Any

from app.kit.text import storable

MAX_KEY = 100
MAX_VALUE = 1000
# Field names that carry secrets or payment data, in the languages of our users' sites too.
_SECRET_NAME = re.compile(
    r"pass|pwd|парол|contrase|secret|token|csrf|nonce|captcha|otp|one.?time|"
    r"card|карт|tarjeta|cc.?(num|exp|csc|cvc)|cvv|cvc|csc|\bcid\b|security.?code|expir|"
    r"iban|account.?num|routing|ssn|snils|снилс|\binn\b|паспорт|passport|"
    r"(^|[^a-z])pin([^a-z]|$)",
    re.IGNORECASE,
)
_DIGITS_ONLY = re.compile(r"^[\d\s-]+$")


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def looks_like_card(value: str) -> bool:
    """13 to 19 digits passing the Luhn check, however spaced: a payment card number."""
    if not _DIGITS_ONLY.match(value):
        return False
    digits = [int(c) for c in value if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def kept_fields(raw: dict[str, Any]) -> dict[str, str]:
    """The fields worth keeping, as text: secrets, card numbers, empty and nested values
    dropped, names and values cut to size."""
    kept: dict[str, str] = {}
    for key, value in raw.items():
        name = storable(str(key)).strip()[:MAX_KEY]
        if not name or is_secret_name(name):
            continue
        if isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, int | float | str):
            text = storable(str(value)).strip()
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            text = storable(", ".join(value)).strip()  # a multiple select, checkboxes
        else:
            continue
        if not text or looks_like_card(text):
            continue
        kept[name] = text[:MAX_VALUE]
    return kept
