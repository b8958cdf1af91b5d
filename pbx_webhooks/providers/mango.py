"""Mango Office VPBX API events.

Every request is a form with `vpbx_api_key`, `sign` and `json`, where
`sign = sha256_hex(vpbx_api_key + json + vpbx_api_salt)` over the json text exactly as received.
The key must also be ours: the salt alone would let another Mango account's events in.

Subpaths under the registered URL:
- `events/call`: one event per call leg. `entry_id` is the whole call (constant through transfers),
  `call_id` the leg, `seq` orders them. Appeared -> started, Connected -> answered,
  Disconnected -> ended with no outcome (one leg hanging up does not say how the call went;
  the summary does).
- `events/summary`: the final word, ended with started_at/answered_at/ended_at and the outcome.
- `events/recording`: recording when `recording_state` is Completed. Mango sends a `recording_id`,
  no URL (the file is fetched through its API), so `recording_url` is None.

Ignored (parse returns []): `OnHold` and unknown call states, legs between two extensions
(internal calls and transfer legs), summaries with a `call_direction` other than 1 (inbound) or 2
(outbound), recording states other than Completed, and every other subpath (dtmf, sms, ...).
A leg placed from an extension to an outside number is reported as direction outbound.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from app.calls.events import CallEvent, CallEventKind, Direction
from pbx_webhooks.events import (
    InboundRequest,
    JsonObject,
    MalformedBody,
    MalformedEvent,
    SignatureInvalid,
    credential,
    decode_form,
    decode_json_object,
    from_unix,
    opt_count,
    opt_str,
    req_str,
    sub_object,
)

_STATES: Final[dict[str, CallEventKind]] = {
    "Appeared": "started",
    "Connected": "answered",
    "Disconnected": "ended",
}


def sign(api_key: str, json_text: str, api_salt: str) -> str:
    return hashlib.sha256((api_key + json_text + api_salt).encode()).hexdigest()


def _form(request: InboundRequest) -> dict[str, str]:
    if request.content_type not in ("", "application/x-www-form-urlencoded"):
        raise MalformedBody(
            f"unsupported content type {request.content_type!r}; Mango posts a form"
        )
    return decode_form(request.body)


class MangoProvider:
    name = "mango"

    def verify(
        self, request: InboundRequest, credentials: Mapping[str, str], *, now: datetime
    ) -> None:
        api_key = credential(credentials, self.name, "api_key")
        api_salt = credential(credentials, self.name, "api_salt")
        fields = _form(request)
        sent_key = fields.get("vpbx_api_key")
        sent_sign = fields.get("sign")
        if not sent_key or not sent_sign:
            raise SignatureInvalid("missing vpbx_api_key or sign")
        # Both checks always run: which one failed should not show in the timing.
        key_ok = hmac.compare_digest(sent_key.encode(), api_key.encode())
        expected = sign(api_key, fields.get("json", ""), api_salt)
        sign_ok = hmac.compare_digest(sent_sign.lower().encode(), expected.encode())
        if not (key_ok and sign_ok):
            raise SignatureInvalid("vpbx_api_key or sign does not match")

    def parse(
        self,
        request: InboundRequest,
        credentials: Mapping[str, str],
        *,
        now: datetime | None = None,
    ) -> list[CallEvent]:
        fields = _form(request)
        if "json" not in fields:
            raise MalformedEvent("json", "is required")
        data = decode_json_object(fields["json"], "json field")
        subpath = request.subpath.strip("/")
        if subpath == "events/call":
            return _call(data)
        if subpath == "events/summary":
            return _summary(data)
        if subpath == "events/recording":
            return _recording(data)
        return []

    def echo(self, request: InboundRequest) -> str | None:
        return None


def _time(data: JsonObject, name: str) -> datetime | None:
    """Unix seconds, as number or text; Mango sends 0 for a moment that never came."""
    seconds = opt_count(data, name)
    return from_unix(seconds, name) if seconds else None


def _req_time(data: JsonObject, name: str) -> datetime:
    moment = _time(data, name)
    if moment is None:
        raise MalformedEvent(name, "is required (unix seconds)")
    return moment


def _call(data: JsonObject) -> list[CallEvent]:
    entry_id = req_str(data, "entry_id")
    leg_id = req_str(data, "call_id")
    seq = opt_count(data, "seq")
    if seq is None:
        raise MalformedEvent("seq", "is required")
    occurred_at = _req_time(data, "timestamp")
    kind = _STATES.get(req_str(data, "call_state"))
    if kind is None:
        return []
    source = sub_object(data, "from")
    target = sub_object(data, "to")
    direction: Direction = "inbound"
    if opt_str(source, "extension"):
        if opt_str(target, "extension"):
            return []  # extension to extension: internal, or a transfer leg of a tracked call
        direction = "outbound"
    return [
        CallEvent(
            provider_call_id=entry_id,
            kind=kind,
            occurred_at=occurred_at,
            caller=opt_str(source, "number", "from."),
            called=(
                opt_str(target, "line_number", "to.")
                if direction == "inbound"
                else opt_str(target, "number", "to.")
            ),
            sequence=seq,
            dedup_key=f"call:{leg_id}:{seq}",
            direction=direction,
        )
    ]


def _summary(data: JsonObject) -> list[CallEvent]:
    entry_id = req_str(data, "entry_id")
    direction_code = opt_count(data, "call_direction")
    if direction_code not in (None, 1, 2):
        return []  # internal calls
    direction: Direction = "outbound" if direction_code == 2 else "inbound"
    source = sub_object(data, "from")
    target = sub_object(data, "to")
    started_at = _req_time(data, "create_time")
    ended_at = _req_time(data, "end_time")
    # talk_time is when the conversation began; forward_time (the call reaching an employee)
    # only stands in for it if talk_time is missing on a call Mango says was talked.
    talked = opt_count(data, "entry_result")
    if talked is None:
        raise MalformedEvent("entry_result", "is required")
    answered_at = _time(data, "talk_time") or (_time(data, "forward_time") if talked else None)
    if direction == "inbound":
        called = opt_str(data, "line_number") or opt_str(target, "line_number", "to.")
    else:
        called = opt_str(target, "number", "to.")
    return [
        CallEvent(
            provider_call_id=entry_id,
            kind="ended",
            occurred_at=ended_at,
            caller=opt_str(source, "number", "from."),
            called=called,
            outcome="answered" if talked else "missed",
            duration_s=max(0, int((ended_at - started_at).total_seconds())),
            talk_duration_s=_talk_duration(talked, answered_at, ended_at),
            dedup_key=f"summary:{entry_id}",
            started_at=started_at,
            answered_at=answered_at,
            ended_at=ended_at,
            direction=direction,
        )
    ]


def _talk_duration(talked: int, answered_at: datetime | None, ended_at: datetime) -> int | None:
    if answered_at is not None:
        return max(0, int((ended_at - answered_at).total_seconds()))
    return None if talked else 0  # talked but no answer time: unknown, not zero


def _recording(data: JsonObject) -> list[CallEvent]:
    entry_id = req_str(data, "entry_id")
    recording_id = req_str(data, "recording_id")
    if req_str(data, "recording_state") != "Completed":
        return []
    return [
        CallEvent(
            provider_call_id=entry_id,
            kind="recording",
            occurred_at=_req_time(data, "timestamp"),
            caller=None,
            called=None,
            sequence=opt_count(data, "seq"),
            dedup_key=f"recording:{recording_id}",
        )
    ]
