"""Zadarma provider: per-event signed strings, the documented vector, local call_start, echo."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from pbx_webhooks.events import InboundRequest, MalformedBody, MalformedEvent, SignatureInvalid
from pbx_webhooks.providers.zadarma import ZadarmaProvider, signature, signed_string

SECRET = "testsecret"
CREDS = {"api_secret": SECRET}
NOW = datetime(2024, 1, 15, 7, 45, tzinfo=UTC)
PROVIDER = ZadarmaProvider()
CALL_START = "2024-01-15 10:30:00"  # Moscow, = 07:30 UTC
CALL_START_UTC = datetime(2024, 1, 15, 7, 30, tzinfo=UTC)

VECTOR = "NmFlNGE2OGIyOWU2YzY5ZmIzMDE3N2RkZjFmZDhmYWJhZWRjNjcxOA=="


def _request(fields: dict[str, str], sign: str | None = None) -> InboundRequest:
    headers = {}
    if sign != "<absent>":
        headers["signature"] = sign or signature(SECRET, signed_string(fields))
    return InboundRequest(
        method="POST",
        url="https://calls.example.com/hooks/pbx/3",
        subpath="",
        query={},
        headers=headers,
        body=urlencode(fields).encode(),
        content_type="application/x-www-form-urlencoded",
    )


def _start(**fields: str) -> dict[str, str]:
    base = {
        "event": "NOTIFY_START",
        "call_start": CALL_START,
        "pbx_call_id": "in_abc123",
        "caller_id": "+79001234567",
        "called_did": "74951234567",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v != "<absent>"}


def _end(**fields: str) -> dict[str, str]:
    end = {
        "event": "NOTIFY_END",
        "internal": "100",
        "duration": "42",
        "disposition": "answered",
        "status_code": "16",
        "is_recorded": "1",
        "call_id_with_rec": "1705303800.123",
    }
    return _start(**{**end, **fields})


# ---- signature -----------------------------------------------------------------------------------


def test_documented_vector() -> None:
    assert signature(SECRET, "+79001234567" + "74951234567" + CALL_START) == VECTOR


def test_signature_is_base64_of_the_hex_digest() -> None:
    hex_digest = hmac.new(b"k", b"abc", hashlib.sha1).hexdigest()
    assert base64.b64decode(signature("k", "abc")) == hex_digest.encode()


def test_documented_vector_accepted_as_a_request() -> None:
    PROVIDER.verify(_request(_start(), VECTOR), CREDS, now=NOW)


@pytest.mark.parametrize(
    ("fields", "signed"),
    [
        (_start(), "+79001234567" + "74951234567" + CALL_START),
        (
            _start(event="NOTIFY_INTERNAL", internal="101"),
            "+79001234567" + "74951234567" + CALL_START,
        ),
        (_start(event="NOTIFY_IVR"), "+79001234567" + "74951234567" + CALL_START),
        (_end(), "+79001234567" + "74951234567" + CALL_START),
        (
            {
                "event": "NOTIFY_ANSWER",
                "caller_id": "+79001234567",
                "destination": "101",
                "call_start": CALL_START,
                "pbx_call_id": "in_abc123",
                "internal": "101",
            },
            "+79001234567" + "101" + CALL_START,
        ),
        (
            {
                "event": "NOTIFY_OUT_START",
                "call_start": CALL_START,
                "pbx_call_id": "out_x",
                "internal": "100",
                "destination": "+79991112233",
            },
            "100" + "+79991112233" + CALL_START,
        ),
        (
            {"event": "NOTIFY_RECORD", "pbx_call_id": "in_abc123", "call_id_with_rec": "17.5"},
            "in_abc123" + "17.5",
        ),
    ],
)
def test_signed_string_per_event(fields: dict[str, str], signed: str) -> None:
    assert signed_string(fields) == signed
    PROVIDER.verify(_request(fields, signature(SECRET, signed)), CREDS, now=NOW)


def test_forged_signed_field_rejected() -> None:
    genuine = _request(_start())
    forged = _request(_start(called_did="70000000000"), genuine.headers["signature"])
    with pytest.raises(SignatureInvalid) as info:
        PROVIDER.verify(forged, CREDS, now=NOW)
    assert info.value.status_code == 401


def test_wrong_secret_rejected() -> None:
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(_request(_start()), {"api_secret": "other"}, now=NOW)


def test_raw_digest_base64_is_not_accepted() -> None:
    raw = hmac.new(SECRET.encode(), signed_string(_start()).encode(), hashlib.sha1).digest()
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(_request(_start(), base64.b64encode(raw).decode()), CREDS, now=NOW)


def test_missing_signature_rejected() -> None:
    with pytest.raises(SignatureInvalid, match="missing"):
        PROVIDER.verify(_request(_start(), "<absent>"), CREDS, now=NOW)


def test_unknown_event_cannot_be_verified() -> None:
    fields = {"event": "NOTIFY_SMS", "text": "hi"}
    with pytest.raises(SignatureInvalid, match="NOTIFY_SMS"):
        PROVIDER.verify(_request(fields, "c2lnbmF0dXJl"), CREDS, now=NOW)


# ---- echo ----------------------------------------------------------------------------------------


def _get(query: dict[str, str], method: str = "GET") -> InboundRequest:
    return InboundRequest(method, "https://x/h", "", query, {}, b"", "")


def test_echo() -> None:
    assert PROVIDER.echo(_get({"zd_echo": "a1B2-c3"})) == "a1B2-c3"


@pytest.mark.parametrize(
    "request_",
    [
        _get({}),
        _get({"zd_echo": "x"}, method="POST"),
        _get({"zd_echo": "<script>alert(1)</script>"}),
        _get({"zd_echo": ""}),
        _get({"zd_echo": "a" * 200}),
    ],
)
def test_no_echo(request_: InboundRequest) -> None:
    assert PROVIDER.echo(request_) is None


# ---- mapping -------------------------------------------------------------------------------------


def test_start() -> None:
    [event] = PROVIDER.parse(_request(_start()), CREDS, now=NOW)
    assert event.provider_call_id == "in_abc123"
    assert event.kind == "started"
    assert event.occurred_at == CALL_START_UTC
    assert (event.caller, event.called) == ("+79001234567", "74951234567")
    assert event.dedup_key == "in_abc123:NOTIFY_START"
    assert event.direction == "inbound"


def test_call_start_in_the_integration_timezone() -> None:
    creds = {**CREDS, "timezone": "Asia/Yekaterinburg"}  # UTC+5
    [event] = PROVIDER.parse(_request(_start()), creds, now=NOW)
    assert event.occurred_at == datetime(2024, 1, 15, 5, 30, tzinfo=UTC)


def test_internal_is_started_once_per_extension() -> None:
    [one] = PROVIDER.parse(_request(_start(event="NOTIFY_INTERNAL", internal="101")), CREDS)
    [two] = PROVIDER.parse(_request(_start(event="NOTIFY_INTERNAL", internal="102")), CREDS)
    assert one.kind == two.kind == "started"
    assert one.dedup_key != two.dedup_key


def test_ivr_is_started() -> None:
    [event] = PROVIDER.parse(_request(_start(event="NOTIFY_IVR")), CREDS, now=NOW)
    assert event.kind == "started"


def test_answer() -> None:
    fields = {
        "event": "NOTIFY_ANSWER",
        "caller_id": "+79001234567",
        "destination": "101",
        "call_start": CALL_START,
        "pbx_call_id": "in_abc123",
        "internal": "101",
    }
    [event] = PROVIDER.parse(_request(fields), CREDS, now=NOW)
    assert event.kind == "answered"
    assert event.occurred_at == NOW  # Zadarma sends no answer time
    assert event.started_at == CALL_START_UTC
    assert event.called is None
    assert event.dedup_key == "in_abc123:NOTIFY_ANSWER:101"


@pytest.mark.parametrize(
    ("disposition", "duration", "outcome"),
    [
        ("answered", "42", "answered"),
        ("busy", "0", "busy"),
        ("cancel", "0", "missed"),
        ("no answer", "0", "missed"),
        ("failed", "0", "failed"),
        ("no money", "0", "failed"),
        ("unallocated number", "0", "failed"),
        ("line limit", "0", "failed"),
        ("something new", "5", "answered"),
        ("something new", "0", None),
    ],
)
def test_end(disposition: str, duration: str, outcome: str | None) -> None:
    [event] = PROVIDER.parse(
        _request(_end(disposition=disposition, duration=duration)), CREDS, now=NOW
    )
    assert event.kind == "ended"
    assert event.outcome == outcome
    assert event.talk_duration_s == int(duration)
    assert event.started_at == CALL_START_UTC
    assert event.occurred_at == NOW
    assert (event.caller, event.called) == ("+79001234567", "74951234567")
    assert event.dedup_key == "in_abc123:NOTIFY_END"


def test_withheld_caller() -> None:
    [event] = PROVIDER.parse(_request(_start(caller_id="0")), CREDS, now=NOW)
    assert event.caller is None


def test_outbound_start_and_end() -> None:
    out = {
        "call_start": CALL_START,
        "pbx_call_id": "out_dcb2",
        "internal": "100",
        "destination": "+79991112233",
    }
    [start] = PROVIDER.parse(_request({"event": "NOTIFY_OUT_START", **out}), CREDS, now=NOW)
    assert (start.kind, start.direction) == ("started", "outbound")
    assert (start.caller, start.called) == ("100", "+79991112233")
    end_fields = {
        "event": "NOTIFY_OUT_END",
        **out,
        "caller_id": "0",
        "duration": "0",
        "disposition": "cancel",
    }
    [end] = PROVIDER.parse(_request(end_fields), CREDS, now=NOW)
    assert (end.kind, end.direction, end.outcome) == ("ended", "outbound", "missed")
    assert end.dedup_key == "out_dcb2:NOTIFY_OUT_END"


def test_record() -> None:
    fields = {"event": "NOTIFY_RECORD", "pbx_call_id": "in_abc123", "call_id_with_rec": "17.5"}
    [event] = PROVIDER.parse(_request(fields), CREDS, now=NOW)
    assert (event.kind, event.provider_call_id, event.occurred_at) == (
        "recording",
        "in_abc123",
        NOW,
    )
    assert event.recording_url is None
    assert event.dedup_key == "in_abc123:NOTIFY_RECORD:17.5"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        (_start(event="<absent>"), "event"),
        (_start(event="NOTIFY_SMS"), "event"),
        (_start(pbx_call_id="<absent>"), "pbx_call_id"),
        (_start(call_start="<absent>"), "call_start"),
        (_start(call_start="15.01.2024 10:30"), "call_start"),
        (_start(called_did="<absent>"), "called_did"),
        (_end(duration="forever"), "duration"),
        ({"event": "NOTIFY_RECORD", "pbx_call_id": "in_1"}, "call_id_with_rec"),
        (
            {"event": "NOTIFY_OUT_START", "pbx_call_id": "out_1", "call_start": CALL_START},
            "destination",
        ),
    ],
)
def test_malformed_fields_named(fields: dict[str, str], field: str) -> None:
    with pytest.raises(MalformedEvent) as info:
        PROVIDER.parse(_request(fields, "x"), CREDS, now=NOW)
    assert info.value.field == field


def test_undecodable_body() -> None:
    request = InboundRequest("POST", "https://x/h", "", {}, {"signature": "x"}, b"\xff=1", "")
    with pytest.raises(MalformedBody):
        PROVIDER.parse(request, CREDS, now=NOW)


def test_unknown_timezone_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="timezone"):
        PROVIDER.parse(_request(_start()), {**CREDS, "timezone": "Mars/Olympus"}, now=NOW)


# ---- what the signature leaves open ------------------------------------------------------------


def test_a_start_signature_cannot_be_reused_for_an_outbound_event() -> None:
    # OUT events sign internal + destination + call_start: the START's caller and DID fit.
    genuine = _request(_start())
    forged_fields = {
        "event": "NOTIFY_OUT_END",
        "call_start": CALL_START,
        "pbx_call_id": "in_abc123",
        "internal": "+79001234567",
        "destination": "74951234567",
        "duration": "900",
        "disposition": "answered",
    }
    assert signed_string(forged_fields) == signed_string(_start())
    with pytest.raises(SignatureInvalid, match="outbound calls are out_") as info:
        PROVIDER.verify(_request(forged_fields, genuine.headers["signature"]), CREDS, now=NOW)
    assert info.value.status_code == 401


def test_an_inbound_event_under_an_outbound_call_id_is_refused() -> None:
    with pytest.raises(SignatureInvalid, match="inbound calls are in_"):
        PROVIDER.verify(_request(_end(pbx_call_id="out_dcb2")), CREDS, now=NOW)


def test_a_record_signature_cannot_be_reused_as_a_start_with_fields_left_out() -> None:
    # The signed string is a bare concatenation: with call_start left empty, a START whose
    # caller_id and called_did are the RECORD's call id and file id signs the same string.
    record = {"event": "NOTIFY_RECORD", "pbx_call_id": "in_abc123", "call_id_with_rec": "17.5"}
    forged = {"event": "NOTIFY_START", "pbx_call_id": "in_abc123"}
    forged |= {"caller_id": "in_abc123", "called_did": "17.5"}
    assert signed_string(forged) == signed_string(record)
    sign = signature(SECRET, signed_string(record))
    with pytest.raises(SignatureInvalid, match="signed field 'call_start'"):
        PROVIDER.verify(_request(forged, sign), CREDS, now=NOW)


@pytest.mark.parametrize(
    ("now", "refused"),
    [
        (CALL_START_UTC + timedelta(hours=23, minutes=59), None),
        (CALL_START_UTC + timedelta(hours=24, seconds=1), "older than 24 h"),
        (CALL_START_UTC - timedelta(minutes=59), None),
        (CALL_START_UTC - timedelta(hours=1, seconds=1), "check the integration's timezone"),
    ],
)
def test_call_start_must_be_recent(now: datetime, refused: str | None) -> None:
    if refused is None:
        PROVIDER.verify(_request(_end()), CREDS, now=now)
        return
    with pytest.raises(SignatureInvalid, match=refused):
        PROVIDER.verify(_request(_end()), CREDS, now=now)


def test_the_window_is_read_in_the_integration_timezone() -> None:
    # 10:30 in Novosibirsk is 03:30 UTC: a day and a bit before NOW's next-day 04:00 UTC.
    creds = {**CREDS, "timezone": "Asia/Novosibirsk"}
    PROVIDER.verify(_request(_start()), creds, now=datetime(2024, 1, 16, 3, 0, tzinfo=UTC))
    with pytest.raises(SignatureInvalid, match="older than"):
        PROVIDER.verify(_request(_start()), creds, now=datetime(2024, 1, 16, 4, 0, tzinfo=UTC))


def test_a_record_carries_no_time_and_is_not_windowed() -> None:
    fields = {"event": "NOTIFY_RECORD", "pbx_call_id": "in_abc123", "call_id_with_rec": "17.5"}
    PROVIDER.verify(_request(fields), CREDS, now=NOW + timedelta(days=30))
