"""The generic format of the public contract, for PBXs we have no dedicated module for.

Authentication, one of:
- Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`
  over `{id}.{timestamp}.{body}`, key = base64 after `whsec_`; several space-separated signatures
  (key rotation) and non-v1 entries are allowed.
- `?token=<the whole secret>` for PBXs that cannot sign (Asterisk dialplan, FreeSWITCH, Kamailio).
When any signature header is present the signature must verify; a token cannot rescue it.

Body: JSON or form-encoded with the contract fields. Nothing is ignored: every valid body maps to
exactly one event. Withheld callers are fine (`caller` absent/null/empty gives None).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from app.calls.events import CallEvent, CallEventKind, CallOutcome
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
    http_url,
    opt_count,
    opt_str,
    parse_iso,
    req_str,
)

TOLERANCE_S: Final = 300
_SIGNATURE_HEADERS: Final = ("webhook-id", "webhook-timestamp", "webhook-signature")
_KINDS: Final[dict[str, CallEventKind]] = {
    "call.started": "started",
    "call.answered": "answered",
    "call.ended": "ended",
}
_OUTCOMES: Final[dict[str, CallOutcome]] = {
    "answered": "answered",
    "missed": "missed",
    "busy": "busy",
    "failed": "failed",
}


def signing_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret (the prefix optional, as in the spec libraries)."""
    encoded = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError("generic integration secret is not whsec_<base64>") from exc


def sign(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The `v1,<base64>` signature entry for one message (also used by tests and tools)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def _is_signed(request: InboundRequest) -> bool:
    return any(name in request.headers for name in _SIGNATURE_HEADERS)


class GenericProvider:
    name = "generic"

    def verify(
        self, request: InboundRequest, credentials: Mapping[str, str], *, now: datetime
    ) -> None:
        secret = credential(credentials, self.name, "secret")
        if _is_signed(request):
            self._verify_signature(request, secret, now)
            return
        token = request.query.get("token")
        if token is None:
            raise SignatureInvalid("missing webhook-signature headers or ?token=")
        # A secret pasted into a URL unencoded has its base64 "+" read back as a space.
        token = token.replace(" ", "+")
        if not hmac.compare_digest(token.encode(), secret.encode()):
            raise SignatureInvalid("token does not match")

    def _verify_signature(self, request: InboundRequest, secret: str, now: datetime) -> None:
        msg_id = request.headers.get("webhook-id", "")
        timestamp = request.headers.get("webhook-timestamp", "")
        signatures = request.headers.get("webhook-signature", "")
        if not (msg_id and timestamp and signatures):
            raise SignatureInvalid("webhook-id, webhook-timestamp and webhook-signature all needed")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise SignatureInvalid("webhook-timestamp is not unix seconds") from None
        # Replay protection: an old capture must not be accepted again.
        if abs(now.timestamp() - sent_at) > TOLERANCE_S:
            raise SignatureInvalid("webhook-timestamp is too old or in the future")
        expected = sign(secret, msg_id, timestamp, request.body).encode()
        # No early exit: every candidate is compared in constant time.
        matched = False
        for candidate in signatures.split():
            if candidate.startswith("v1,"):
                matched |= hmac.compare_digest(candidate.encode(), expected)
        if not matched:
            raise SignatureInvalid("webhook-signature does not match")

    def parse(
        self,
        request: InboundRequest,
        credentials: Mapping[str, str],
        *,
        now: datetime | None = None,
    ) -> list[CallEvent]:
        data = _decode(request)
        event = req_str(data, "event")
        kind = _KINDS.get(event)
        if kind is None:
            raise MalformedEvent("event", f"must be one of {', '.join(_KINDS)}; got {event!r}")
        call_id = req_str(data, "call_id")
        raw_timestamp = _raw_timestamp(data)
        status = opt_str(data, "status")
        outcome = None
        if status is not None:
            outcome = _OUTCOMES.get(status)
            if outcome is None:
                raise MalformedEvent("status", f"must be one of {', '.join(_OUTCOMES)}")
        # A signed message has its own id, stable across the sender's retries; a message sent
        # with a token is keyed by what makes it unique.
        dedup_key = request.headers.get("webhook-id") or f"{call_id}:{event}:{raw_timestamp}"
        return [
            CallEvent(
                provider_call_id=call_id,
                kind=kind,
                occurred_at=_timestamp(raw_timestamp),
                caller=opt_str(data, "caller"),
                called=req_str(data, "called"),
                outcome=outcome if kind == "ended" else None,
                duration_s=opt_count(data, "duration"),
                talk_duration_s=opt_count(data, "talk_duration"),
                recording_url=http_url(opt_str(data, "recording_url"), "recording_url"),
                dedup_key=dedup_key,
            )
        ]

    def echo(self, request: InboundRequest) -> str | None:
        return None


def _decode(request: InboundRequest) -> JsonObject:
    content_type = request.content_type
    if not content_type or content_type == "text/plain":
        # curl from a dialplan often sends no (or a wrong) type: tell JSON by its first character.
        looks_json = request.body.lstrip()[:1] == b"{"
        content_type = "application/json" if looks_json else "application/x-www-form-urlencoded"
    if content_type == "application/json" or content_type.endswith("+json"):
        return decode_json_object(request.body)
    if content_type == "application/x-www-form-urlencoded":
        return dict(decode_form(request.body))
    raise MalformedBody(f"unsupported content type {request.content_type!r}; send JSON or a form")


def _raw_timestamp(data: JsonObject) -> str:
    value = data.get("timestamp")
    if isinstance(value, float):  # JSON unix seconds with a fraction
        return repr(value)
    return req_str(data, "timestamp")


def _timestamp(raw: str) -> datetime:
    """Unix seconds (integer or decimal) or ISO-8601: the contract accepts both."""
    try:
        seconds = float(raw)
    except ValueError:
        return parse_iso(raw, "timestamp")
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise MalformedEvent("timestamp", f"not a time: {raw!r}")
    return from_unix(seconds, "timestamp")
