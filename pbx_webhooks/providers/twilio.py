"""Twilio Programmable Voice: the voice URL request, status callbacks and recording callbacks.

Signature (`X-Twilio-Signature`): base64 HMAC over the public URL followed by every POST parameter
as name + value, names sorted, each name's values sorted and de-duplicated. Like the official
validator we accept the URL with and without the default port. A JSON body is not in the signed
string; the URL carries `bodySHA256=<hex sha256(body)>` instead. For a GET callback the parameters
are in the URL, so only the URL is signed.
The key is the account `auth_token` and the hash SHA-1, unless Twilio adds
`X-Twilio-Webhooks-Signature-Settings` (a Webhooks Rule signing with a SharedKey): then the key is
the optional credential `shared_key_secret` and the hash the one the header names.

Mapping: queued/initiated/ringing -> started, in-progress -> answered, completed/busy/failed/
no-answer/canceled -> ended (completed with CallDuration > 0 is answered, else missed; busy; failed;
no-answer and canceled are missed). RecordingSid without CallStatus -> recording. The <Dial> action
callback (DialCallStatus) -> answered when the forwarded leg was picked up.
Caveat: when TwiML forwards the call, Twilio itself answers the parent leg, so its in-progress and
CallDuration speak of Twilio, not of a person; only DialCallStatus tells a person answered.

Ignored (parse returns []): legs with Direction `outbound-dial` (the child leg a <Dial> places while
forwarding an inbound call; the parent CallSid already tracks the call), <Dial> action callbacks
that were not answered (the final status callback ends the call), recording callbacks whose
RecordingStatus is not `completed`, and CallStatus values Twilio may add later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Final
from urllib.parse import parse_qs, urlsplit

from app.calls.events import CallEvent, CallEventKind, CallOutcome, Direction
from pbx_webhooks.events import (
    InboundRequest,
    MalformedEvent,
    SignatureInvalid,
    credential,
    decode_form,
    decode_form_pairs,
    decode_json_object,
    decode_text,
    http_url,
    opt_count,
    opt_str,
    received_at,
    req_str,
)

_HASHES: Final = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}
_KINDS: Final[dict[str, CallEventKind]] = {
    "queued": "started",
    "initiated": "started",
    "ringing": "started",
    "in-progress": "answered",
    "completed": "ended",
    "busy": "ended",
    "failed": "ended",
    "no-answer": "ended",
    "canceled": "ended",
}
_END_OUTCOMES: Final[dict[str, CallOutcome]] = {
    "busy": "busy",
    "failed": "failed",
    "no-answer": "missed",
    "canceled": "missed",
}


def compute_signature(
    url: str, params: Iterable[tuple[str, str]], key: str, algorithm: str = "HMAC_SHA1"
) -> str:
    """Twilio's signature of `url` + params by name (a repeated name: values sorted, unique)."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    signed = url + "".join(name + v for name in sorted(values) for v in sorted(values[name]))
    digest = hmac.new(key.encode(), signed.encode(), _HASHES[algorithm]).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> list[str]:
    """The URL as called, without the default-or-explicit port and with it: Twilio is not
    consistent about which one it signs."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return [url]
    host = parts.netloc.rsplit(":", 1)[0] if port else parts.netloc
    with_port = port or (443 if parts.scheme == "https" else 80)
    return [
        url,
        parts._replace(netloc=host).geturl(),
        parts._replace(netloc=f"{host}:{with_port}").geturl(),
    ]


def _is_json(request: InboundRequest) -> bool:
    return request.content_type == "application/json" or request.content_type.endswith("+json")


def _signature_settings(request: InboundRequest, credentials: Mapping[str, str]) -> tuple[str, str]:
    """(key, algorithm) the request was signed with."""
    settings = request.headers.get("x-twilio-webhooks-signature-settings")
    if settings is None:
        return credential(credentials, "twilio", "auth_token"), "HMAC_SHA1"
    algorithm = "HMAC_SHA1"
    for part in settings.split(","):
        name, _, value = part.partition("=")
        if name.strip() == "algorithm" and value.strip():
            algorithm = value.strip().upper()
    if algorithm not in _HASHES:
        raise SignatureInvalid(f"unsupported Twilio signature algorithm {algorithm!r}")
    shared_key = credentials.get("shared_key_secret")
    if not shared_key:
        raise SignatureInvalid(
            "request is signed with a Twilio SharedKey; the integration has no shared_key_secret"
        )
    return shared_key, algorithm


class TwilioProvider:
    name = "twilio"

    def verify(
        self, request: InboundRequest, credentials: Mapping[str, str], *, now: datetime
    ) -> None:
        signature = request.headers.get("x-twilio-signature")
        if not signature:
            raise SignatureInvalid("missing X-Twilio-Signature")
        key, algorithm = _signature_settings(request, credentials)
        params: list[tuple[str, str]] = []
        if _is_json(request):
            body_hash = parse_qs(urlsplit(request.url).query).get("bodySHA256", [""])[0]
            actual = hashlib.sha256(request.body).hexdigest()
            if not hmac.compare_digest(body_hash.encode(), actual.encode()):
                raise SignatureInvalid("bodySHA256 in the URL does not match the body")
        elif request.method.upper() != "GET":
            params = decode_form_pairs(request.body)
        matched = False
        for url in url_variants(request.url):
            expected = compute_signature(url, params, key, algorithm)
            matched |= hmac.compare_digest(expected.encode(), signature.encode())
        if not matched:
            raise SignatureInvalid("X-Twilio-Signature does not match")

    def parse(
        self,
        request: InboundRequest,
        credentials: Mapping[str, str],
        *,
        now: datetime | None = None,
    ) -> list[CallEvent]:
        params = _params(request)
        call_sid = req_str(params, "CallSid")
        if params.get("Direction") == "outbound-dial":
            return []
        direction: Direction = (
            "outbound" if params.get("Direction") == "outbound-api" else "inbound"
        )
        occurred_at = _timestamp(params, now)
        if "DialCallStatus" in params:
            return _dial_result(params, call_sid, occurred_at, direction)
        status = opt_str(params, "CallStatus")
        if status is None:
            if "RecordingSid" not in params:
                raise MalformedEvent("CallStatus", "is required (or RecordingSid for a recording)")
            return _recording(params, call_sid, occurred_at, direction)
        kind = _KINDS.get(status)
        if kind is None:
            return []
        duration = opt_count(params, "CallDuration")
        outcome: CallOutcome | None = None
        if kind == "ended":
            # A completed call lasted; a completed call of 0 s was never picked up.
            outcome = _END_OUTCOMES.get(status) or ("answered" if duration else "missed")
        return [
            CallEvent(
                provider_call_id=call_sid,
                kind=kind,
                occurred_at=occurred_at,
                caller=opt_str(params, "From"),
                called=opt_str(params, "To"),
                outcome=outcome,
                duration_s=duration,
                recording_url=http_url(opt_str(params, "RecordingUrl"), "RecordingUrl"),
                sequence=opt_count(params, "SequenceNumber"),
                # One callback per status and call: CallSid + CallStatus is stable over retries.
                dedup_key=f"{call_sid}:{status}",
                direction=direction,
            )
        ]

    def echo(self, request: InboundRequest) -> str | None:
        return None


def _params(request: InboundRequest) -> dict[str, str]:
    if request.method.upper() == "GET":
        return dict(request.query)
    if _is_json(request):
        data = decode_json_object(decode_text(request.body))
        return {name: str(value) for name, value in data.items() if value is not None}
    return decode_form(request.body)


def _timestamp(params: Mapping[str, str], now: datetime | None) -> datetime:
    """Status callbacks carry `Timestamp` (RFC 2822); the first voice request does not."""
    raw = params.get("Timestamp")
    if not raw:
        return received_at(now)
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError) as exc:
        raise MalformedEvent("Timestamp", f"not an RFC 2822 time: {raw!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _dial_result(
    params: Mapping[str, str], call_sid: str, received: datetime, direction: Direction
) -> list[CallEvent]:
    """The <Dial> action callback, sent when the forwarded leg is over. Its CallStatus says
    in-progress (Twilio itself answered to run the TwiML); DialCallStatus says whether a person
    did. Only that is news: the end of the call comes with the final status callback."""
    if params["DialCallStatus"] not in ("completed", "answered"):
        return []
    talk = opt_count(params, "DialCallDuration")
    return [
        CallEvent(
            provider_call_id=call_sid,
            kind="answered",
            # Sent at the end of the conversation: step back over it to the answer.
            occurred_at=received - timedelta(seconds=talk or 0),
            caller=opt_str(params, "From"),
            called=opt_str(params, "To"),
            talk_duration_s=talk,
            recording_url=http_url(opt_str(params, "RecordingUrl"), "RecordingUrl"),
            dedup_key=f"{call_sid}:dial:{params.get('DialCallSid', '')}",
            direction=direction,
        )
    ]


def _recording(
    params: Mapping[str, str], call_sid: str, occurred_at: datetime, direction: Direction
) -> list[CallEvent]:
    recording_sid = req_str(params, "RecordingSid")
    if params.get("RecordingStatus", "completed") != "completed":
        return []  # in-progress / absent / failed: no file to point at
    return [
        CallEvent(
            provider_call_id=call_sid,
            kind="recording",
            occurred_at=occurred_at,
            caller=None,
            called=None,
            recording_url=http_url(req_str(params, "RecordingUrl"), "RecordingUrl"),
            dedup_key=f"{call_sid}:recording:{recording_sid}",
            direction=direction,
        )
    ]
