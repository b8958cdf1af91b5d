"""Phone numbers: parsed in the site's country, stored and answered in E.164."""

from __future__ import annotations

import phonenumbers

from app.exceptions import InvalidField


def to_e164(raw: str, country: str, *, field: str) -> str:
    """`raw` as written on a site of `country`, in E.164; InvalidField (422) naming `field`."""
    try:
        parsed = phonenumbers.parse(raw, country.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidField(field, f"{raw!r} is not a phone number ({exc})") from exc
    # "Possible" (right length for the country) rather than "valid": operators open new ranges
    # before the metadata knows them, and a tracking number is the customer's to choose.
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidField(field, f"{raw!r} is not a possible phone number in {country.upper()}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_known_country(country: str) -> bool:
    return country.upper() in phonenumbers.SUPPORTED_REGIONS
