"""Generic provider: Standard Webhooks signatures, the ?token= fallback, and the contract fields."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from pbx_webhooks.events import InboundRequest, MalformedBody, MalformedEvent, SignatureInvalid
from pbx_webhooks.providers.generic import GenericProvider, sign

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
CREDS = {"secret": SECRET}
NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
PROVIDER = GenericProvider()


def _request(
    body: bytes,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> InboundRequest:
    return InboundRequest(
        method="POST",
        url="https://calls.example.com/hooks/pbx/1",
        subpath="",
        query=query or {},
        headers=headers or {},
        body=body,
        content_type=content_type,
    )


def _body(**fields: object) -> bytes:
    payload: dict[str, object] = {
        "event": "call.started",
        "call_id": "c-1",
        "caller": "+79001234567",
        "called": "+74951234567",
        "timestamp": "2024-01-15T10:29:58Z",
    }
    payload.update(fields)
    return json.dumps({k: v for k, v in payload.items() if v is not None}).encode()


def _signed(body: bytes, *, msg_id: str = "msg_1", at: datetime = NOW) -> InboundRequest:
    timestamp = str(int(at.timestamp()))
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": sign(SECRET, msg_id, timestamp, body),
    }
    return _request(body, headers)


# ---- signatures ----------------------------------------------------------------------------------


def test_sign_follows_standard_webhooks_by_hand() -> None:
    body = b'{"a":1}'
    digest = hmac.new(KEY, b"msg_1.1705314600." + body, hashlib.sha256).digest()
    assert sign(SECRET, "msg_1", "1705314600", body) == "v1," + base64.b64encode(digest).decode()


def test_genuine_signature_accepted() -> None:
    PROVIDER.verify(_signed(_body()), CREDS, now=NOW)


@pytest.mark.parametrize("skew", [timedelta(seconds=-299), timedelta(seconds=299)])
def test_timestamp_within_tolerance_accepted(skew: timedelta) -> None:
    PROVIDER.verify(_signed(_body(), at=NOW + skew), CREDS, now=NOW)


@pytest.mark.parametrize("skew", [timedelta(seconds=-301), timedelta(seconds=301)])
def test_stale_or_future_timestamp_rejected(skew: timedelta) -> None:
    with pytest.raises(SignatureInvalid, match="too old"):
        PROVIDER.verify(_signed(_body(), at=NOW + skew), CREDS, now=NOW)


def test_one_good_signature_among_several_is_enough() -> None:
    request = _signed(_body())
    rotated = (
        f"v1,{base64.b64encode(b'x' * 32).decode()} v1a,ignored "
        + request.headers["webhook-signature"]
    )
    PROVIDER.verify(
        _request(request.body, {**request.headers, "webhook-signature": rotated}), CREDS, now=NOW
    )


def test_forged_signature_rejected() -> None:
    request = _signed(_body())
    forged = _request(_body(called="+70000000000"), dict(request.headers))
    with pytest.raises(SignatureInvalid) as info:
        PROVIDER.verify(forged, CREDS, now=NOW)
    assert info.value.status_code == 401


def test_signature_with_another_secret_rejected() -> None:
    other = "whsec_" + base64.b64encode(b"another key").decode()
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(_signed(_body()), {"secret": other}, now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_partial_signature_headers_rejected(missing: str) -> None:
    request = _signed(_body())
    headers = {k: v for k, v in request.headers.items() if k != missing}
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(_request(request.body, headers, {"token": SECRET}), CREDS, now=NOW)


def test_non_numeric_timestamp_rejected() -> None:
    request = _signed(_body())
    headers = {**request.headers, "webhook-timestamp": "yesterday"}
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(_request(request.body, headers), CREDS, now=NOW)


def test_no_signature_and_no_token_rejected() -> None:
    with pytest.raises(SignatureInvalid, match="missing"):
        PROVIDER.verify(_request(_body()), CREDS, now=NOW)


def test_token_accepted() -> None:
    PROVIDER.verify(_request(_body(), query={"token": SECRET}), CREDS, now=NOW)


@pytest.mark.parametrize("token", ["", "whsec_", SECRET[:-1], SECRET + "x"])
def test_wrong_token_rejected(token: str) -> None:
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(_request(_body(), query={"token": token}), CREDS, now=NOW)


def test_missing_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        PROVIDER.verify(_request(_body(), query={"token": SECRET}), {}, now=NOW)


# ---- mapping -------------------------------------------------------------------------------------


def test_started_event_maps_fields() -> None:
    [event] = PROVIDER.parse(_signed(_body()), CREDS)
    assert event.provider_call_id == "c-1"
    assert event.kind == "started"
    assert event.occurred_at == datetime(2024, 1, 15, 10, 29, 58, tzinfo=UTC)
    assert event.caller == "+79001234567"
    assert event.called == "+74951234567"
    assert event.outcome is None
    assert event.dedup_key == "msg_1"
    assert event.direction == "inbound"


def test_answered_event() -> None:
    [event] = PROVIDER.parse(_signed(_body(event="call.answered")), CREDS)
    assert event.kind == "answered"


def test_ended_event_with_everything() -> None:
    body = _body(
        event="call.ended",
        status="busy",
        duration=42,
        talk_duration="0",
        recording_url="https://pbx.example.com/rec/1.mp3",
    )
    [event] = PROVIDER.parse(_signed(body), CREDS)
    assert event.kind == "ended"
    assert event.outcome == "busy"
    assert event.duration_s == 42
    assert event.talk_duration_s == 0
    assert event.recording_url == "https://pbx.example.com/rec/1.mp3"


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1705314598, datetime(2024, 1, 15, 10, 29, 58, tzinfo=UTC)),
        ("1705314598", datetime(2024, 1, 15, 10, 29, 58, tzinfo=UTC)),
        (1705314598.5, datetime(2024, 1, 15, 10, 29, 58, 500000, tzinfo=UTC)),
        ("2024-01-15T13:29:58+03:00", datetime(2024, 1, 15, 10, 29, 58, tzinfo=UTC)),
        ("2024-01-15T10:29:58", datetime(2024, 1, 15, 10, 29, 58, tzinfo=UTC)),
    ],
)
def test_timestamp_unix_or_iso(timestamp: object, expected: datetime) -> None:
    [event] = PROVIDER.parse(_signed(_body(timestamp=timestamp)), CREDS)
    assert event.occurred_at == expected
    assert event.occurred_at.tzinfo is UTC


def test_token_request_dedup_key_from_fields() -> None:
    request = _request(_body(event="call.ended"), query={"token": SECRET})
    [event] = PROVIDER.parse(request, CREDS)
    assert event.dedup_key == "c-1:call.ended:2024-01-15T10:29:58Z"
    [again] = PROVIDER.parse(request, CREDS)
    assert again.dedup_key == event.dedup_key


def test_form_body_accepted() -> None:
    form = urlencode(
        {
            "event": "call.ended",
            "call_id": "1705314598.42",
            "caller": "",
            "called": "74951234567",
            "timestamp": "1705314598",
            "duration": "30",
            "talk_duration": "21",
            "status": "answered",
        }
    ).encode()
    request = _request(
        form, query={"token": SECRET}, content_type="application/x-www-form-urlencoded"
    )
    [event] = PROVIDER.parse(request, CREDS)
    assert event.caller is None  # withheld number
    assert (event.kind, event.outcome, event.duration_s, event.talk_duration_s) == (
        "ended",
        "answered",
        30,
        21,
    )


@pytest.mark.parametrize("content_type", ["", "text/plain"])
def test_untyped_body_is_sniffed(content_type: str) -> None:
    [as_json] = PROVIDER.parse(_request(_body(), content_type=content_type), CREDS)
    assert as_json.provider_call_id == "c-1"
    form = b"event=call.started&call_id=c-2&called=1&timestamp=1705314598"
    [as_form] = PROVIDER.parse(_request(form, content_type=content_type), CREDS)
    assert as_form.provider_call_id == "c-2"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_body(event=None), "event"),
        (_body(event="call.ringing"), "event"),
        (_body(call_id=None), "call_id"),
        (_body(call_id=""), "call_id"),
        (_body(called=None), "called"),
        (_body(timestamp=None), "timestamp"),
        (_body(timestamp="soon"), "timestamp"),
        (_body(timestamp="nan"), "timestamp"),
        (_body(timestamp=10**20), "timestamp"),
        (_body(status="great"), "status"),
        (_body(duration=-1), "duration"),
        (_body(duration="long"), "duration"),
        (_body(talk_duration=1.5), "talk_duration"),
        (_body(recording_url="javascript:alert(1)"), "recording_url"),
        (_body(caller={"number": "1"}), "caller"),
    ],
)
def test_malformed_fields_named(body: bytes, field: str) -> None:
    with pytest.raises(MalformedEvent) as info:
        PROVIDER.parse(_signed(body), CREDS)
    assert info.value.field == field
    assert info.value.status_code == 422
    assert info.value.detail.startswith(field + ":")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"event=%FF", "application/x-www-form-urlencoded"),
        (b"<xml/>", "application/xml"),
    ],
)
def test_undecodable_body_is_400(body: bytes, content_type: str) -> None:
    with pytest.raises(MalformedBody) as info:
        PROVIDER.parse(_request(body, content_type=content_type), CREDS)
    assert info.value.status_code == 400


def test_no_echo() -> None:
    assert PROVIDER.echo(_request(b"")) is None
