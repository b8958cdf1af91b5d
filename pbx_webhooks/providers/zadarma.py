"""Zadarma (and Novofon's classic API): NOTIFY_* form posts.

Signature: header `Signature` = base64 of the lowercase hex HMAC-SHA1(api_secret, signed string),
the signed string being a few fields concatenated, different per event (see `_SIGNED`). Only those
fields are covered; Zadarma signs nothing else. An event we do not know cannot be checked, so it is
refused (401) rather than stored unverified.

Because so little is signed, `verify` also refuses (401, nothing stored) what a captured signature
could be re-dressed as: an event missing one of its own signed fields (the signed string is a bare
concatenation, so an empty field lets another event's string fit); a call id whose `in_` / `out_`
prefix does not fit the event's direction (an inbound START's signature presented as an outbound
event, or the reverse); and a `call_start` outside STALE_AFTER before to AHEAD_LIMIT after `now`
(a replay of yesterday's call, or a time no genuine event carries). NOTIFY_RECORD signs its call id
and carries no time.

Times: `call_start` is local time in the account's zone, credential `timezone` (default
Europe/Moscow). It is the only time Zadarma sends, so ANSWER, END, OUT_END and RECORD take the
moment we received them as `occurred_at` (and keep `call_start` as `started_at`).

Mapping: NOTIFY_START / NOTIFY_INTERNAL / NOTIFY_IVR -> started, NOTIFY_ANSWER -> answered,
NOTIFY_END -> ended, NOTIFY_OUT_START / NOTIFY_OUT_END -> started / ended with direction outbound,
NOTIFY_RECORD -> recording (Zadarma sends no URL, only `call_id_with_rec`; the file has to be
fetched through its API, so `recording_url` is None). `duration` is the talk time (0 for a call
nobody answered). Nothing is ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.calls.events import CallEvent, CallOutcome, Direction
from pbx_webhooks.events import (
    InboundRequest,
    MalformedEvent,
    SignatureInvalid,
    credential,
    decode_form,
    opt_count,
    opt_str,
    received_at,
    req_str,
)

DEFAULT_TIMEZONE: Final = "Europe/Moscow"

_START_FIELDS: Final = ("caller_id", "called_did", "call_start")
_SIGNED: Final[dict[str, tuple[str, ...]]] = {
    "NOTIFY_START": _START_FIELDS,
    "NOTIFY_INTERNAL": _START_FIELDS,
    # Not in Zadarma's table; it carries exactly the START fields, so taken to be signed alike.
    "NOTIFY_IVR": _START_FIELDS,
    "NOTIFY_END": _START_FIELDS,
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}
_OUTCOMES: Final[dict[str, CallOutcome]] = {
    "answered": "answered",
    "busy": "busy",
    "cancel": "missed",
    "no answer": "missed",
    "failed": "failed",
    "no money": "failed",
    "unallocated number": "failed",
    "no limit": "failed",
    "no day limit": "failed",
    "line limit": "failed",
}
# An END comes when the call ends, so hours after its call_start at most; a day is generous.
STALE_AFTER: Final = timedelta(hours=24)
# Clock skew and a DST hour; beyond that the time was not written by Zadarma for this account.
AHEAD_LIMIT: Final = timedelta(hours=1)
_INBOUND_ONLY: Final = frozenset({"NOTIFY_START", "NOTIFY_INTERNAL", "NOTIFY_IVR", "NOTIFY_END"})
_OUTBOUND_ONLY: Final = frozenset({"NOTIFY_OUT_START", "NOTIFY_OUT_END"})
# zd_echo is reflected into our response body: only let through what a nonce looks like.
_ECHO: Final = re.compile(r"[A-Za-z0-9._~-]{1,128}")


def signature(api_secret: str, signed: str) -> str:
    """base64 of the hex digest, not of the raw digest: that is how Zadarma's PHP sample does it."""
    hex_digest = hmac.new(api_secret.encode(), signed.encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(hex_digest.encode()).decode("ascii")


def signed_string(fields: Mapping[str, str]) -> str:
    event = fields.get("event", "")
    names = _SIGNED.get(event)
    if names is None:
        raise SignatureInvalid(f"unknown Zadarma event {event!r}: its signature cannot be checked")
    return "".join(fields.get(name, "") for name in names)


class ZadarmaProvider:
    name = "zadarma"

    def verify(
        self, request: InboundRequest, credentials: Mapping[str, str], *, now: datetime
    ) -> None:
        sent = request.headers.get("signature")
        if not sent:
            raise SignatureInvalid("missing Signature header")
        fields = decode_form(request.body)
        expected = signature(
            credential(credentials, self.name, "api_secret"), signed_string(fields)
        )
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise SignatureInvalid("Signature does not match")
        _check_binding(fields, credentials, now=now)

    def echo(self, request: InboundRequest) -> str | None:
        """Zadarma checks the URL with `GET ?zd_echo=X` and wants `X` back (answer it as
        text/plain, before and without `verify`: the check is not signed)."""
        value = request.query.get("zd_echo")
        if request.method.upper() != "GET" or value is None or not _ECHO.fullmatch(value):
            return None
        return value

    def parse(
        self,
        request: InboundRequest,
        credentials: Mapping[str, str],
        *,
        now: datetime | None = None,
    ) -> list[CallEvent]:
        fields = decode_form(request.body)
        event = req_str(fields, "event")
        if event not in _SIGNED:
            raise MalformedEvent("event", f"unknown Zadarma event {event!r}")
        call_id = req_str(fields, "pbx_call_id")
        # Zadarma names calls in_... and out_...: the only direction hint in ANSWER and RECORD.
        direction: Direction = "outbound" if call_id.startswith("out_") else "inbound"
        if event == "NOTIFY_RECORD":
            rec = req_str(fields, "call_id_with_rec")
            return [
                CallEvent(
                    provider_call_id=call_id,
                    kind="recording",
                    occurred_at=received_at(now),
                    caller=None,
                    called=None,
                    dedup_key=f"{call_id}:{event}:{rec}",
                    direction=direction,
                )
            ]
        call_start = _local_time(req_str(fields, "call_start"), credentials)
        caller = _number(fields, "caller_id")
        if event in ("NOTIFY_START", "NOTIFY_INTERNAL", "NOTIFY_IVR"):
            return [
                CallEvent(
                    provider_call_id=call_id,
                    kind="started",
                    occurred_at=call_start,
                    caller=caller,
                    called=req_str(fields, "called_did"),
                    dedup_key=_start_key(fields, call_id, event),
                    started_at=call_start,
                )
            ]
        if event == "NOTIFY_ANSWER":
            destination = fields.get("destination", "")
            return [
                CallEvent(
                    provider_call_id=call_id,
                    kind="answered",
                    occurred_at=received_at(now),
                    caller=caller,
                    called=None,  # ANSWER does not repeat the tracking number
                    dedup_key=f"{call_id}:{event}:{destination}",
                    started_at=call_start,
                    direction=direction,
                )
            ]
        if event == "NOTIFY_END":
            return [_ended(fields, call_id, call_start, caller, req_str(fields, "called_did"), now)]
        # Outbound: an employee's extension (`internal`) calls `destination`.
        internal = opt_str(fields, "internal")
        destination = req_str(fields, "destination")
        if event == "NOTIFY_OUT_START":
            return [
                CallEvent(
                    provider_call_id=call_id,
                    kind="started",
                    occurred_at=call_start,
                    caller=internal,
                    called=destination,
                    dedup_key=f"{call_id}:{event}",
                    started_at=call_start,
                    direction="outbound",
                )
            ]
        return [_ended(fields, call_id, call_start, internal, destination, now, "outbound")]


def _ended(
    fields: Mapping[str, str],
    call_id: str,
    call_start: datetime,
    caller: str | None,
    called: str,
    now: datetime | None,
    direction: Direction = "inbound",
) -> CallEvent:
    disposition = fields.get("disposition", "")
    talk = opt_count(fields, "duration")
    outcome = _OUTCOMES.get(disposition)
    if outcome is None and disposition:
        # An unknown reason that still talked was answered; otherwise say nothing rather than guess.
        outcome = "answered" if talk else None
    return CallEvent(
        provider_call_id=call_id,
        kind="ended",
        occurred_at=received_at(now),
        caller=caller,
        called=called,
        outcome=outcome,
        talk_duration_s=talk,
        dedup_key=f"{call_id}:{fields['event']}",
        started_at=call_start,
        direction=direction,
    )


def _check_binding(
    fields: Mapping[str, str], credentials: Mapping[str, str], *, now: datetime
) -> None:
    """What the signature leaves open must fit the event it came with (see the module's doc)."""
    event = fields["event"]  # signed_string has refused an unknown one
    for name in _SIGNED[event]:
        if not fields.get(name, "").strip():
            raise SignatureInvalid(f"Zadarma {event} without its signed field {name!r}")
    call_id = fields.get("pbx_call_id", "")
    if event in _INBOUND_ONLY and not call_id.startswith("in_"):
        raise SignatureInvalid(f"Zadarma {event} for call {call_id!r}: inbound calls are in_...")
    if event in _OUTBOUND_ONLY and not call_id.startswith("out_"):
        raise SignatureInvalid(f"Zadarma {event} for call {call_id!r}: outbound calls are out_...")
    if "call_start" not in fields:
        return
    try:
        call_start = _local_time(fields["call_start"], credentials)
    except MalformedEvent:
        return  # parse refuses it by name, and the event is kept for a replay once fixed
    if call_start < now - STALE_AFTER:
        raise SignatureInvalid(
            f"Zadarma {event} of a call started at {fields['call_start']}: older than "
            f"{STALE_AFTER.total_seconds() / 3600:g} h, refused as a replay"
        )
    if call_start > now + AHEAD_LIMIT:
        raise SignatureInvalid(
            f"Zadarma {event} of a call starting at {fields['call_start']}, ahead of now: "
            "check the integration's timezone"
        )


def _start_key(fields: Mapping[str, str], call_id: str, event: str) -> str:
    # NOTIFY_INTERNAL comes once per extension rung, each a genuine event of its own.
    if event == "NOTIFY_INTERNAL":
        return f"{call_id}:{event}:{fields.get('internal', '')}"
    return f"{call_id}:{event}"


def _number(fields: Mapping[str, str], name: str) -> str | None:
    """Zadarma sends "0" (or nothing) for a withheld number."""
    value = opt_str(fields, name)
    return None if value in (None, "0") else value


def _local_time(text: str, credentials: Mapping[str, str]) -> datetime:
    zone_name = credentials.get("timezone") or DEFAULT_TIMEZONE
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"zadarma integration has an unknown timezone {zone_name!r}") from exc
    try:
        local = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError as exc:
        raise MalformedEvent("call_start", f"expected YYYY-MM-DD HH:MM:SS, got {text!r}") from exc
    return local.replace(tzinfo=zone).astimezone(UTC)
