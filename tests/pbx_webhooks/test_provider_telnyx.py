"""Telnyx provider: Ed25519 over "{timestamp}|{body}" with a key pair made here, Call Control."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pbx_webhooks.events import InboundRequest, MalformedBody, MalformedEvent, SignatureInvalid
from pbx_webhooks.providers.telnyx import TelnyxProvider

PRIVATE = Ed25519PrivateKey.generate()
PUBLIC_B64 = base64.b64encode(
    PRIVATE.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
).decode()
CREDS = {"public_key": PUBLIC_B64}
NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
PROVIDER = TelnyxProvider()


def _event(event_type: str = "call.initiated", **payload: object) -> dict[str, object]:
    base: dict[str, object] = {
        "call_control_id": "v3:abc",
        "call_leg_id": "leg-1",
        "call_session_id": "sess-1",
        "connection_id": "conn-1",
        "from": "+79001234567",
        "to": "+74951234567",
        "direction": "incoming",
        "state": "parked",
    }
    base.update(payload)
    return {
        "data": {
            "record_type": "event",
            "event_type": event_type,
            "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
            "occurred_at": "2024-01-15T10:29:58.123456Z",
            "payload": {k: v for k, v in base.items() if v is not None},
        },
        "meta": {"attempt": 1, "delivered_to": "https://calls.example.com/hooks/pbx/9"},
    }


def _request(
    body: dict[str, object] | bytes,
    *,
    at: datetime = NOW,
    key: Ed25519PrivateKey = PRIVATE,
    headers: dict[str, str] | None = None,
) -> InboundRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    timestamp = str(int(at.timestamp()))
    signature = base64.b64encode(key.sign(f"{timestamp}|".encode() + raw)).decode()
    return InboundRequest(
        method="POST",
        url="https://calls.example.com/hooks/pbx/9",
        subpath="",
        query={},
        headers=(
            headers
            if headers is not None
            else {"telnyx-signature-ed25519": signature, "telnyx-timestamp": timestamp}
        ),
        body=raw,
        content_type="application/json",
    )


# ---- signature -----------------------------------------------------------------------------------


def test_genuine_request_accepted() -> None:
    PROVIDER.verify(_request(_event()), CREDS, now=NOW)


@pytest.mark.parametrize("skew", [timedelta(seconds=-300), timedelta(seconds=300)])
def test_within_tolerance_accepted(skew: timedelta) -> None:
    PROVIDER.verify(_request(_event(), at=NOW + skew), CREDS, now=NOW)


@pytest.mark.parametrize("skew", [timedelta(seconds=-301), timedelta(minutes=10)])
def test_stale_or_future_rejected(skew: timedelta) -> None:
    with pytest.raises(SignatureInvalid, match="too old"):
        PROVIDER.verify(_request(_event(), at=NOW + skew), CREDS, now=NOW)


def test_tampered_body_rejected() -> None:
    genuine = _request(_event())
    forged = InboundRequest(
        genuine.method,
        genuine.url,
        genuine.subpath,
        genuine.query,
        genuine.headers,
        genuine.body.replace(b"+74951234567", b"+70000000000"),
        genuine.content_type,
    )
    with pytest.raises(SignatureInvalid) as info:
        PROVIDER.verify(forged, CREDS, now=NOW)
    assert info.value.status_code == 401


def test_timestamp_is_part_of_the_signed_message() -> None:
    genuine = _request(_event())
    moved = {**genuine.headers, "telnyx-timestamp": str(int(NOW.timestamp()) + 1)}
    with pytest.raises(SignatureInvalid, match="does not match"):
        PROVIDER.verify(_request(genuine.body, headers=moved), CREDS, now=NOW)


def test_other_key_rejected() -> None:
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(_request(_event(), key=Ed25519PrivateKey.generate()), CREDS, now=NOW)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"telnyx-timestamp": "1705314600"},
        {"telnyx-signature-ed25519": base64.b64encode(b"x" * 64).decode()},
        {"telnyx-signature-ed25519": "not base64!", "telnyx-timestamp": "1705314600"},
        {"telnyx-signature-ed25519": base64.b64encode(b"x" * 64).decode(), "telnyx-timestamp": "t"},
    ],
)
def test_missing_or_malformed_headers_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(_request(_event(), headers=headers), CREDS, now=NOW)


def test_bad_public_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="public_key"):
        PROVIDER.verify(_request(_event()), {"public_key": "c2hvcnQ="}, now=NOW)


# ---- mapping -------------------------------------------------------------------------------------


def test_initiated() -> None:
    [event] = PROVIDER.parse(_request(_event()), CREDS, now=NOW)
    assert event.provider_call_id == "sess-1"
    assert event.kind == "started"
    assert event.occurred_at == datetime(2024, 1, 15, 10, 29, 58, 123456, tzinfo=UTC)
    assert (event.caller, event.called) == ("+79001234567", "+74951234567")
    assert event.dedup_key == "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"
    assert event.direction == "inbound"
    assert event.sequence is None


def test_answered() -> None:
    [event] = PROVIDER.parse(_request(_event("call.answered")), CREDS, now=NOW)
    assert event.kind == "answered"


@pytest.mark.parametrize(
    ("cause", "outcome"),
    [
        ("normal_clearing", "answered"),
        ("user_busy", "busy"),
        ("originator_cancel", "missed"),
        ("timeout", "missed"),
        ("call_rejected", "missed"),
        ("not_found", "failed"),
        ("unspecified", None),
        (None, None),
    ],
)
def test_hangup(cause: str | None, outcome: str | None) -> None:
    body = _event(
        "call.hangup",
        hangup_cause=cause,
        hangup_source="caller",
        start_time="2024-01-15T10:29:00.000000Z",
        end_time="2024-01-15T10:29:58.000000Z",
    )
    [event] = PROVIDER.parse(_request(body), CREDS, now=NOW)
    assert event.kind == "ended"
    assert event.outcome == outcome
    assert event.started_at == datetime(2024, 1, 15, 10, 29, tzinfo=UTC)
    assert event.ended_at == datetime(2024, 1, 15, 10, 29, 58, tzinfo=UTC)
    assert event.duration_s == 58


def test_hangup_without_times() -> None:
    [event] = PROVIDER.parse(_request(_event("call.hangup")), CREDS, now=NOW)
    assert (event.started_at, event.ended_at, event.duration_s) == (None, None, None)


def test_outgoing_leg_is_outbound() -> None:
    [event] = PROVIDER.parse(_request(_event(direction="outgoing")), CREDS, now=NOW)
    assert event.direction == "outbound"


def test_recording_saved_prefers_public_mp3() -> None:
    body = _event(
        "call.recording.saved",
        recording_urls={"mp3": "https://s3.example/signed.mp3", "wav": "https://s3.example/s.wav"},
        public_recording_urls={"mp3": "https://public.example/r.mp3", "wav": None},
    )
    [event] = PROVIDER.parse(_request(body), CREDS, now=NOW)
    assert (event.kind, event.recording_url) == ("recording", "https://public.example/r.mp3")


def test_recording_saved_private_wav_only() -> None:
    body = _event("call.recording.saved", recording_urls={"wav": "https://s3.example/s.wav"})
    [event] = PROVIDER.parse(_request(body), CREDS, now=NOW)
    assert event.recording_url == "https://s3.example/s.wav"


@pytest.mark.parametrize(
    "event_type", ["call.bridged", "call.dtmf.received", "call.playback.started"]
)
def test_other_events_ignored(event_type: str) -> None:
    assert PROVIDER.parse(_request(_event(event_type)), CREDS, now=NOW) == []


def _without(body: dict[str, object], *path: str) -> dict[str, object]:
    node = body
    for name in path[:-1]:
        child = node[name]
        assert isinstance(child, dict)
        node = child
    del node[path[-1]]
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_without(_event(), "data"), "data"),
        ({"data": "x"}, "data"),
        (_without(_event(), "data", "id"), "data.id"),
        (_without(_event(), "data", "event_type"), "data.event_type"),
        (_without(_event(), "data", "occurred_at"), "data.occurred_at"),
        (_without(_event(), "data", "payload"), "data.payload"),
        (_without(_event(), "data", "payload", "call_session_id"), "data.payload.call_session_id"),
        (_event("call.hangup", start_time="yesterday"), "data.payload.start_time"),
        (_event("call.hangup", **{"from": {"n": 1}}), "data.payload.from"),
        (
            _event("call.recording.saved", recording_urls={"mp3": "file:///etc/passwd"}),
            "data.payload.recording_urls",
        ),
    ],
)
def test_malformed_fields_named(body: dict[str, object], field: str) -> None:
    with pytest.raises(MalformedEvent) as info:
        PROVIDER.parse(_request(body), CREDS, now=NOW)
    assert info.value.field == field


def test_bad_occurred_at_named() -> None:
    body = _event()
    data = body["data"]
    assert isinstance(data, dict)
    data["occurred_at"] = "soon"
    with pytest.raises(MalformedEvent) as info:
        PROVIDER.parse(_request(body), CREDS, now=NOW)
    assert info.value.field == "data.occurred_at"


@pytest.mark.parametrize("raw", [b"{nope", b"[]", b"\xff"])
def test_undecodable_body_is_400(raw: bytes) -> None:
    with pytest.raises(MalformedBody):
        PROVIDER.parse(_request(raw), CREDS, now=NOW)
