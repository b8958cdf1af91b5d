"""Phone numbers: parsed in the site's country, stored and answered in E.164."""

from __future__ import annotations

import re
from typing import TypeGuard

import phonenumbers

from app.exceptions import InvalidField
from app.i18n import gettext

# "00" dials out of most countries; the library knows it only for countries whose own
# international prefix it is, but PBXs and people write it everywhere (a Russian PBX
# forwarding "0049..." means Germany, not a local number).
_DOUBLE_ZERO = re.compile(r"^\s*00(?=[\s\d(])")


def to_e164(raw: str, country: str, *, field: str) -> str:
    """`raw` as written on a site of `country`, in E.164; InvalidField (422) naming `field`.

    National trunk prefixes (the Russian 8, the German or British 0) and the country's own
    international prefix are read by the phone number library for `country`; "00" is read as
    "+" in any country."""
    region = country.upper()
    if _DOUBLE_ZERO.match(raw):
        international, _problem = _e164(_DOUBLE_ZERO.sub("+", raw, count=1), region, raw)
        if international is not None:
            return international
        # not an international number after all: read it as written
    e164, problem = _e164(raw, region, raw)
    if e164 is None:
        raise InvalidField(field, problem)
    return e164


def _e164(text: str, region: str, raw: str) -> tuple[str | None, str]:
    """The number in E.164, or None and what is wrong with it."""
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        return None, gettext("%(raw)s is not a phone number (%(why)s)", raw=repr(raw), why=exc)
    # "Possible" (right length for the country) rather than "valid": operators open new ranges
    # before the metadata knows them, and a tracking number is the customer's to choose.
    if not phonenumbers.is_possible_number(parsed):
        return None, gettext(
            "%(raw)s is not a possible phone number in %(country)s", raw=repr(raw), country=region
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), ""


def is_known_country(country: str) -> bool:
    return country.upper() in phonenumbers.SUPPORTED_REGIONS


def is_identifiable(caller: str | None) -> TypeGuard[str]:
    """Whether a stored caller names one person: only a possible E.164 number does. A withheld
    caller ("anonymous", "restricted", "unknown", "unavailable") or an extension is kept as the
    PBX sent it, but two of them are no more the same person than two blank lines."""
    if caller is None or not caller.startswith("+") or not caller[1:].isdigit():
        return False
    return _e164(caller, "ZZ", caller)[0] == caller
