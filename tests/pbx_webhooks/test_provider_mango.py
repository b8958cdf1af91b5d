"""Mango Office provider: sign over the raw json field, our key only, call/summary/recording."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from pbx_webhooks.events import InboundRequest, MalformedBody, MalformedEvent, SignatureInvalid
from pbx_webhooks.providers.mango import MangoProvider, sign

API_KEY = "vpbx-key-123"
API_SALT = "salt-456"
CREDS = {"api_key": API_KEY, "api_salt": API_SALT}
NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
PROVIDER = MangoProvider()
T0 = 1705314600  # 2024-01-15 10:30:00 UTC


def _request(
    payload: dict[str, object] | str,
    subpath: str = "events/call",
    *,
    key: str = API_KEY,
    signature: str | None = None,
    extra: dict[str, str] | None = None,
) -> InboundRequest:
    # Mango's own JSON spacing and escaping is what gets signed; keep it as a string end to end.
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    fields = {
        "vpbx_api_key": key,
        "sign": signature if signature is not None else sign(key, text, API_SALT),
        "json": text,
        **(extra or {}),
    }
    return InboundRequest(
        method="POST",
        url=f"https://calls.example.com/hooks/pbx/5/{subpath}",
        subpath=subpath,
        query={},
        headers={},
        body=urlencode(fields).encode(),
        content_type="application/x-www-form-urlencoded",
    )


def _call(**fields: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "entry_id": "MTA1NzU5Mzo0ODE=",
        "call_id": "MToxMDA1NzU5Mzo0ODE6NjI0",
        "timestamp": T0,
        "seq": 1,
        "call_state": "Appeared",
        "location": "ivr",
        "from": {"number": "79001234567"},
        "to": {"number": "74951234567", "line_number": "74951234567"},
    }
    payload.update(fields)
    return {k: v for k, v in payload.items() if v is not None}


def _summary(**fields: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "entry_id": "MTA1NzU5Mzo0ODE=",
        "call_direction": 1,
        "from": {"number": "79001234567"},
        "to": {"extension": "101", "number": "sip:101@example.mangosip.ru"},
        "line_number": "74951234567",
        "create_time": T0,
        "forward_time": T0 + 5,
        "talk_time": T0 + 12,
        "end_time": T0 + 72,
        "entry_result": 1,
        "disconnect_reason": 1110,
    }
    payload.update(fields)
    return {k: v for k, v in payload.items() if v is not None}


# ---- signature -----------------------------------------------------------------------------------


def test_sign_by_hand() -> None:
    expected = hashlib.sha256(b"k" + b'{"a": 1}' + b"s").hexdigest()
    assert sign("k", '{"a": 1}', "s") == expected


def test_genuine_request_accepted() -> None:
    PROVIDER.verify(_request(_call()), CREDS, now=NOW)


def test_json_is_signed_as_received_not_reserialised() -> None:
    text = '{ "entry_id":"e1",  "call_id":"c1","seq":"2","timestamp":"1705314600",' + (
        '"call_state":"Connected","from":{"number":"7900"},"to":{"line_number":"7495"},'
        '"comment":"привет"}'
    )
    request = _request(text)
    PROVIDER.verify(request, CREDS, now=NOW)
    [event] = PROVIDER.parse(request, CREDS, now=NOW)
    assert (event.kind, event.sequence) == ("answered", 2)


def test_uppercase_sign_accepted() -> None:
    text = json.dumps(_call())
    PROVIDER.verify(_request(text, signature=sign(API_KEY, text, API_SALT).upper()), CREDS, now=NOW)


def test_forged_json_rejected() -> None:
    genuine = _request(_call())
    forged_text = json.dumps(_call(to={"line_number": "70000000000"}))
    forged = _request(forged_text, signature=sign(API_KEY, json.dumps(_call()), API_SALT))
    assert genuine.body != forged.body
    with pytest.raises(SignatureInvalid) as info:
        PROVIDER.verify(forged, CREDS, now=NOW)
    assert info.value.status_code == 401


def test_another_accounts_key_rejected_even_if_signed_with_our_salt() -> None:
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(_request(_call(), key="someone-else"), CREDS, now=NOW)


def test_wrong_salt_rejected() -> None:
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(_request(_call()), {**CREDS, "api_salt": "other"}, now=NOW)


@pytest.mark.parametrize("missing", ["vpbx_api_key", "sign"])
def test_missing_fields_rejected(missing: str) -> None:
    text = json.dumps(_call())
    fields = {"vpbx_api_key": API_KEY, "sign": sign(API_KEY, text, API_SALT), "json": text}
    del fields[missing]
    request = InboundRequest(
        "POST", "https://x/h", "events/call", {}, {}, urlencode(fields).encode(), ""
    )
    with pytest.raises(SignatureInvalid, match="missing"):
        PROVIDER.verify(request, CREDS, now=NOW)


# ---- events/call ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "kind"),
    [("Appeared", "started"), ("Connected", "answered"), ("Disconnected", "ended")],
)
def test_call_states(state: str, kind: str) -> None:
    [event] = PROVIDER.parse(_request(_call(call_state=state, seq=4)), CREDS, now=NOW)
    assert event.provider_call_id == "MTA1NzU5Mzo0ODE="
    assert event.kind == kind
    assert event.occurred_at == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    assert (event.caller, event.called) == ("79001234567", "74951234567")
    assert event.sequence == 4
    assert event.outcome is None
    assert event.dedup_key == "call:MToxMDA1NzU5Mzo0ODE6NjI0:4"
    assert event.direction == "inbound"


def test_numbers_as_strings() -> None:
    [event] = PROVIDER.parse(_request(_call(seq="7", timestamp=str(T0))), CREDS, now=NOW)
    assert event.sequence == 7
    assert event.occurred_at == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


def test_subpath_slashes_tolerated() -> None:
    [event] = PROVIDER.parse(_request(_call(), "/events/call/"), CREDS, now=NOW)
    assert event.kind == "started"


@pytest.mark.parametrize("state", ["OnHold", "Teleported"])
def test_other_states_ignored(state: str) -> None:
    assert PROVIDER.parse(_request(_call(call_state=state)), CREDS, now=NOW) == []


def test_internal_leg_ignored() -> None:
    payload = _call(**{"from": {"extension": "101"}})
    payload["to"] = {"extension": "102"}
    assert PROVIDER.parse(_request(payload), CREDS, now=NOW) == []


def test_leg_from_an_extension_is_outbound() -> None:
    payload = _call(**{"from": {"extension": "101", "number": "sip:101@x"}})
    payload["to"] = {"number": "79990001122"}
    [event] = PROVIDER.parse(_request(payload), CREDS, now=NOW)
    assert (event.direction, event.called) == ("outbound", "79990001122")


# ---- events/summary ------------------------------------------------------------------------------


def test_summary_talked() -> None:
    [event] = PROVIDER.parse(_request(_summary(), "events/summary"), CREDS, now=NOW)
    assert event.kind == "ended"
    assert event.provider_call_id == "MTA1NzU5Mzo0ODE="
    assert event.outcome == "answered"
    assert event.started_at == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    assert event.answered_at == datetime(2024, 1, 15, 10, 30, 12, tzinfo=UTC)
    assert event.ended_at == event.occurred_at == datetime(2024, 1, 15, 10, 31, 12, tzinfo=UTC)
    assert (event.duration_s, event.talk_duration_s) == (72, 60)
    assert (event.caller, event.called) == ("79001234567", "74951234567")
    assert event.dedup_key == "summary:MTA1NzU5Mzo0ODE="
    assert event.direction == "inbound"


def test_summary_missed() -> None:
    payload = _summary(entry_result="0", talk_time="0", forward_time="0", end_time=str(T0 + 30))
    [event] = PROVIDER.parse(_request(payload, "events/summary"), CREDS, now=NOW)
    assert (event.outcome, event.answered_at) == ("missed", None)
    assert (event.duration_s, event.talk_duration_s) == (30, 0)


def test_summary_talked_without_talk_time_falls_back_to_forward_time() -> None:
    payload = _summary(talk_time=0)
    [event] = PROVIDER.parse(_request(payload, "events/summary"), CREDS, now=NOW)
    assert event.answered_at == datetime(2024, 1, 15, 10, 30, 5, tzinfo=UTC)


def test_summary_line_number_inside_to() -> None:
    payload = _summary(line_number=None, to={"line_number": "74950000000"})
    [event] = PROVIDER.parse(_request(payload, "events/summary"), CREDS, now=NOW)
    assert event.called == "74950000000"


def test_summary_outbound() -> None:
    payload = _summary(call_direction=2, to={"number": "79990001122"})
    [event] = PROVIDER.parse(_request(payload, "events/summary"), CREDS, now=NOW)
    assert (event.direction, event.called) == ("outbound", "79990001122")


def test_summary_internal_ignored() -> None:
    assert PROVIDER.parse(_request(_summary(call_direction=0), "events/summary"), CREDS) == []


# ---- events/recording and others -----------------------------------------------------------------


def _recording(state: str) -> dict[str, object]:
    return {
        "recording_id": "MToxMDA1NzU5MzoxNDU=",
        "recording_state": state,
        "seq": 3,
        "entry_id": "MTA1NzU5Mzo0ODE=",
        "call_id": "MToxMDA1NzU5Mzo0ODE6NjI0",
        "extension": "101",
        "timestamp": T0 + 80,
    }


def test_recording_completed() -> None:
    [event] = PROVIDER.parse(_request(_recording("Completed"), "events/recording"), CREDS)
    assert (event.kind, event.provider_call_id) == ("recording", "MTA1NzU5Mzo0ODE=")
    assert event.occurred_at == datetime(2024, 1, 15, 10, 31, 20, tzinfo=UTC)
    assert event.recording_url is None
    assert event.dedup_key == "recording:MToxMDA1NzU5MzoxNDU="


@pytest.mark.parametrize("state", ["Started", "Continued"])
def test_recording_in_progress_ignored(state: str) -> None:
    assert PROVIDER.parse(_request(_recording(state), "events/recording"), CREDS) == []


@pytest.mark.parametrize("subpath", ["", "events/dtmf", "events/sms"])
def test_other_subpaths_ignored(subpath: str) -> None:
    assert PROVIDER.parse(_request({"seq": 1}, subpath), CREDS, now=NOW) == []


# ---- malformed -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "subpath", "field"),
    [
        (_call(entry_id=None), "events/call", "entry_id"),
        (_call(call_id=None), "events/call", "call_id"),
        (_call(seq=None), "events/call", "seq"),
        (_call(seq="first"), "events/call", "seq"),
        (_call(timestamp=None), "events/call", "timestamp"),
        (_call(call_state=None), "events/call", "call_state"),
        (_call(to="74951234567"), "events/call", "to"),
        (_call(to={"line_number": ["7495"]}), "events/call", "to.line_number"),
        (_summary(create_time=None), "events/summary", "create_time"),
        (_summary(end_time="late"), "events/summary", "end_time"),
        (_summary(entry_result=None), "events/summary", "entry_result"),
        ({**_recording("Completed"), "recording_id": None}, "events/recording", "recording_id"),
    ],
)
def test_malformed_fields_named(payload: dict[str, object], subpath: str, field: str) -> None:
    with pytest.raises(MalformedEvent) as info:
        PROVIDER.parse(_request(payload, subpath), CREDS, now=NOW)
    assert info.value.field == field


def test_missing_json_field() -> None:
    request = InboundRequest("POST", "https://x/h", "events/call", {}, {}, b"sign=x", "")
    with pytest.raises(MalformedEvent) as info:
        PROVIDER.parse(request, CREDS, now=NOW)
    assert info.value.field == "json"


@pytest.mark.parametrize("text", ["{broken", "[1]", '"text"'])
def test_json_field_not_an_object_is_400(text: str) -> None:
    with pytest.raises(MalformedBody, match="json field"):
        PROVIDER.parse(_request(text), CREDS, now=NOW)


def test_non_form_body_is_400() -> None:
    request = InboundRequest(
        "POST", "https://x/h", "events/call", {}, {}, b"{}", "application/json"
    )
    with pytest.raises(MalformedBody):
        PROVIDER.verify(request, CREDS, now=NOW)
