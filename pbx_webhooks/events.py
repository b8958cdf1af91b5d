"""A PBX webhook as received, the errors on the way, and the decoding helpers providers share
(what it turns into, the normalized CallEvent, is app.calls.events).

Everything here is pure: no storage, no clock (callers pass `now`), no HTTP framework.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

from app.calls.events import CallEvent
from app.exceptions import BadRequest, InvalidField, Unauthorized
from app.kit.text import unstorable


@dataclass(frozen=True, slots=True)
class InboundRequest:
    method: str  # "POST" / "GET"
    url: str  # the full public URL the provider called, rebuilt from the public base URL
    subpath: str  # "" or e.g. "events/call" (Mango appends /events/call etc. to the registered URL)
    query: Mapping[str, str]
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes
    content_type: str  # media type only, lower-cased, e.g. "application/x-www-form-urlencoded"


class SignatureInvalid(Unauthorized):
    """Bad, missing or stale signature: 401, and nothing of the request may be stored."""


class MalformedEvent(InvalidField):
    """The body decoded, but a field is missing or wrong (422); `field` names it (dotted path)."""


class MalformedBody(BadRequest):
    """The body cannot be decoded at all (not UTF-8, not JSON, not a form): 400."""


# A PBX clock may be off by hours (a wrong zone); an event days ahead is a forged or broken
# timestamp (9999-12-31 made a call whose page could not be drawn). Late events are normal
# (retries after an outage, a backfill), but not by more than a year.
MAX_AHEAD = timedelta(days=1)
MAX_BEHIND = timedelta(days=366)


def check_times(events: list[CallEvent], *, now: datetime) -> None:
    """MalformedEvent (422, naming `timestamp`) for an event whose times lie outside
    [now - MAX_BEHIND, now + MAX_AHEAD], whichever provider field they came from."""
    earliest, latest = now - MAX_BEHIND, now + MAX_AHEAD
    for event in events:
        for moment in (event.occurred_at, event.started_at, event.answered_at, event.ended_at):
            if moment is None or earliest <= moment <= latest:
                continue
            when = "ahead of" if moment > latest else "before"
            span = MAX_AHEAD if moment > latest else MAX_BEHIND
            days = f"{span.days} day" + ("s" if span.days != 1 else "")
            raise MalformedEvent(
                "timestamp", f"{moment.isoformat()} is more than {days} {when} the time received"
            )


# ---- helpers shared by the provider modules ------------------------------------------------------

JsonObject = dict[str, object]


def credential(credentials: Mapping[str, str], provider: str, key: str) -> str:
    """A required credential; its absence is our misconfiguration (500), not the caller's fault."""
    value = credentials.get(key)
    if not value:
        raise ValueError(f"{provider} integration has no {key!r} credential")
    return value


def decode_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody("body is not valid UTF-8") from exc


def decode_form_pairs(body: bytes) -> list[tuple[str, str]]:
    """All name/value pairs of a form body, in order, repeats kept (Twilio signs every value)."""
    try:
        # errors="strict": a percent-escape that is not UTF-8 is an undecodable body, not U+FFFD.
        return parse_qsl(decode_text(body), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedBody("body is not a valid form encoding") from exc


def decode_form(body: bytes) -> dict[str, str]:
    """Form fields, the first value winning when a name repeats."""
    fields: dict[str, str] = {}
    for name, value in decode_form_pairs(body):
        fields.setdefault(name, value)
    return fields


def decode_json_object(text: str | bytes, what: str = "body") -> JsonObject:
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody(f"{what} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise MalformedBody(f"{what} must be a JSON object")
    return value


def sub_object(data: Mapping[str, object], name: str, path: str = "") -> JsonObject:
    """A nested JSON object; absent or null gives {} so optional members read as missing."""
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedEvent(path + name, "must be an object")
    return value


def opt_str(data: Mapping[str, object], name: str, path: str = "") -> str | None:
    """A text field; empty, null or absent all mean "not given". Numbers are accepted as text
    because PBXs send ids and phone numbers both ways."""
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedEvent(path + name, "must be a string")
    text = str(value)
    # A NUL byte (or a lone surrogate) could not be stored in the call: refused before it is.
    problem = unstorable(text)
    if problem is not None:
        raise MalformedEvent(path + name, problem)
    return text


def req_str(data: Mapping[str, object], name: str, path: str = "") -> str:
    value = opt_str(data, name, path)
    if value is None:
        raise MalformedEvent(path + name, "is required")
    return value


def opt_int(data: Mapping[str, object], name: str, path: str = "") -> int | None:
    """A whole number, as a JSON number or decimal text (form bodies and Mango send text)."""
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MalformedEvent(path + name, "must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            number = float("nan")
        if number.is_integer():
            return int(number)
    raise MalformedEvent(path + name, f"must be an integer, got {value!r}")


def opt_count(data: Mapping[str, object], name: str, path: str = "") -> int | None:
    """A non-negative integer (durations, sequence numbers)."""
    value = opt_int(data, name, path)
    if value is not None and value < 0:
        raise MalformedEvent(path + name, "must not be negative")
    return value


def from_unix(seconds: float, field: str) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise MalformedEvent(field, f"unix time {seconds!r} is out of range") from exc


def parse_iso(text: str, field: str) -> datetime:
    """ISO-8601 to aware UTC; a time without an offset is taken as UTC (the contract says UTC)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise MalformedEvent(field, f"not an ISO-8601 time: {text!r}") from exc
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def http_url(value: str | None, field: str) -> str | None:
    """Recording links end up as links in the dashboard: only http(s) URLs get through."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise MalformedEvent(field, "must be an http(s) URL")
    return value


def received_at(now: datetime | None) -> datetime:
    """When a provider sends no time for an event, the moment we received it stands in."""
    return (now or datetime.now(UTC)).astimezone(UTC)
