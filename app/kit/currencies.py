"""Currencies: ISO 4217 codes checked by Babel's data, and the one a country uses today."""

from __future__ import annotations

from babel.numbers import get_territory_currencies, is_currency


def country_currency(country: str) -> str:
    """The currency in use in the country today (RU: RUB, ES: EUR); USD where none is known."""
    found = get_territory_currencies(country.upper())
    return found[0] if found else "USD"


def check_currency(value: str) -> str:
    """The code in capitals, or ValueError naming what was given."""
    currency = value.upper()
    if not is_currency(currency):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code such as RUB, EUR or USD")
    return currency
