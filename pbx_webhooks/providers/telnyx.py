"""Telnyx Voice API v2 (Call Control) webhooks.

Signature: Ed25519 over `"{telnyx-timestamp}|{raw body}"`, base64 in `telnyx-signature-ed25519`,
checked with the account's public key (credential `public_key`, base64 of the 32 raw bytes);
the timestamp must be within 300 s of now so a captured request cannot be replayed later.

Mapping: call.initiated -> started, call.answered -> answered, call.hangup -> ended (outcome from
hangup_cause, started_at/ended_at from start_time/end_time), call.recording.saved -> recording.
The call is `payload.call_session_id`, which groups all legs of one call, so an outgoing leg
placed by a transfer shares it with the incoming leg (its events carry direction outbound).
Delivery is out of order and duplicated: `data.id` is the dedup key, `occurred_at` the order.

Ignored (parse returns []): every other event type (call.bridged, call.dtmf.received,
call.playback.*, call.machine.detection.*, ...).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.calls.events import CallEvent, CallEventKind, CallOutcome, Direction
from pbx_webhooks.events import (
    InboundRequest,
    JsonObject,
    MalformedEvent,
    SignatureInvalid,
    credential,
    decode_json_object,
    http_url,
    opt_str,
    parse_iso,
    req_str,
    sub_object,
)

TOLERANCE_S: Final = 300
_KINDS: Final[dict[str, CallEventKind]] = {
    "call.initiated": "started",
    "call.answered": "answered",
    "call.hangup": "ended",
    "call.recording.saved": "recording",
}
# hangup_cause -> outcome. normal_clearing / time_limit mean the call was up and then ended.
_OUTCOMES: Final[dict[str, CallOutcome]] = {
    "normal_clearing": "answered",
    "time_limit": "answered",
    "user_busy": "busy",
    "originator_cancel": "missed",
    "timeout": "missed",
    "no_answer": "missed",
    "call_rejected": "missed",
    "not_found": "failed",
    "unallocated_number": "failed",
}


def _public_key(credentials: Mapping[str, str]) -> Ed25519PublicKey:
    encoded = credential(credentials, "telnyx", "public_key")
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("telnyx public_key is not a base64 Ed25519 public key") from exc


class TelnyxProvider:
    name = "telnyx"

    def verify(
        self, request: InboundRequest, credentials: Mapping[str, str], *, now: datetime
    ) -> None:
        key = _public_key(credentials)
        sent = request.headers.get("telnyx-signature-ed25519")
        timestamp = request.headers.get("telnyx-timestamp")
        if not sent or not timestamp:
            raise SignatureInvalid("missing telnyx-signature-ed25519 or telnyx-timestamp")
        try:
            sent_at = int(timestamp)
            signature = base64.b64decode(sent, validate=True)
        except (ValueError, binascii.Error):
            raise SignatureInvalid("malformed telnyx-timestamp or signature") from None
        if abs(now.timestamp() - sent_at) > TOLERANCE_S:
            raise SignatureInvalid("telnyx-timestamp is too old or in the future")
        try:
            key.verify(signature, f"{timestamp}|".encode() + request.body)
        except InvalidSignature:
            raise SignatureInvalid("telnyx-signature-ed25519 does not match") from None

    def parse(
        self,
        request: InboundRequest,
        credentials: Mapping[str, str],
        *,
        now: datetime | None = None,
    ) -> list[CallEvent]:
        body = decode_json_object(request.body)
        if "data" not in body:
            raise MalformedEvent("data", "is required")
        data = sub_object(body, "data")
        event_id = req_str(data, "id", "data.")
        kind = _KINDS.get(req_str(data, "event_type", "data."))
        if kind is None:
            return []
        occurred_at = parse_iso(req_str(data, "occurred_at", "data."), "data.occurred_at")
        if "payload" not in data:
            raise MalformedEvent("data.payload", "is required")
        payload = sub_object(data, "payload", "data.")
        path = "data.payload."
        direction: Direction = (
            "outbound" if payload.get("direction") in ("outgoing", "outbound") else "inbound"
        )
        event = CallEvent(
            provider_call_id=req_str(payload, "call_session_id", path),
            kind=kind,
            occurred_at=occurred_at,
            caller=opt_str(payload, "from", path),
            called=opt_str(payload, "to", path),
            dedup_key=event_id,
            direction=direction,
        )
        if kind == "ended":
            return [_with_hangup(event, payload)]
        if kind == "recording":
            return [_with_recording(event, payload)]
        return [event]

    def echo(self, request: InboundRequest) -> str | None:
        return None


def _opt_time(payload: JsonObject, name: str) -> datetime | None:
    text = opt_str(payload, name, "data.payload.")
    return parse_iso(text, f"data.payload.{name}") if text else None


def _with_hangup(event: CallEvent, payload: JsonObject) -> CallEvent:
    started_at = _opt_time(payload, "start_time")
    ended_at = _opt_time(payload, "end_time")
    duration = None
    if started_at and ended_at:
        duration = max(0, int((ended_at - started_at).total_seconds()))
    return replace(
        event,
        outcome=_OUTCOMES.get(opt_str(payload, "hangup_cause", "data.payload.") or ""),
        duration_s=duration,
        started_at=started_at,
        ended_at=ended_at,
    )


def _with_recording(event: CallEvent, payload: JsonObject) -> CallEvent:
    # recording_urls are pre-signed and expire within minutes; prefer the public links when the
    # account has them. mp3 over wav: smaller, and what a browser plays.
    url = None
    for group in ("public_recording_urls", "recording_urls"):
        links = sub_object(payload, group, "data.payload.")
        url = opt_str(links, "mp3") or opt_str(links, "wav")
        if url:
            break
    return replace(event, recording_url=http_url(url, "data.payload.recording_urls"))
