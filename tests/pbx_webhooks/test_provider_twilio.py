"""Twilio provider, with the official `twilio` package's RequestValidator as the oracle."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from pbx_webhooks.events import InboundRequest, MalformedBody, MalformedEvent, SignatureInvalid
from pbx_webhooks.providers.twilio import TwilioProvider, compute_signature, url_variants

TOKEN = "12345"
CREDS = {"auth_token": TOKEN}
NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
PROVIDER = TwilioProvider()
ORACLE = RequestValidator(TOKEN)

# The vector printed in the twilio library's own documentation (pbx.md).
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="

HOOK_URL = "https://calls.example.com/hooks/pbx/7"


class _MultiDict(dict[str, list[str]]):
    """What the oracle reads repeated form fields from (Django's QueryDict interface)."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def _form_request(
    params: dict[str, str] | list[tuple[str, str]],
    *,
    url: str = HOOK_URL,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
) -> InboundRequest:
    pairs = list(params.items()) if isinstance(params, dict) else params
    if signature is None:
        signature = ORACLE.compute_signature(url, dict(pairs))
    return InboundRequest(
        method="POST",
        url=url,
        subpath="",
        query={},
        headers={"x-twilio-signature": signature, **(headers or {})},
        body=urlencode(pairs).encode(),
        content_type="application/x-www-form-urlencoded",
    )


def _status(**fields: str) -> dict[str, str]:
    params = {
        "AccountSid": "AC0000",
        "CallSid": "CA1111",
        "From": "+79001234567",
        "To": "+74951234567",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    params.update(fields)
    return {k: v for k, v in params.items() if v != "<absent>"}


# ---- the signature -------------------------------------------------------------------------------


def test_documented_vector_reproduced() -> None:
    assert compute_signature(VECTOR_URL, VECTOR_PARAMS.items(), TOKEN) == VECTOR_SIGNATURE
    assert ORACLE.compute_signature(VECTOR_URL, VECTOR_PARAMS) == VECTOR_SIGNATURE


def test_documented_vector_accepted() -> None:
    request = _form_request(VECTOR_PARAMS, url=VECTOR_URL, signature=VECTOR_SIGNATURE)
    PROVIDER.verify(request, CREDS, now=NOW)


_text = st.text(st.characters(codec="utf-8"), max_size=12)


@given(
    pairs=st.lists(st.tuples(_text, _text), max_size=8),
    path=st.text("abc/._-~", max_size=10),
    query=st.dictionaries(st.text("xyz", min_size=1, max_size=3), _text, max_size=3),
)
def test_signature_matches_oracle(
    pairs: list[tuple[str, str]], path: str, query: dict[str, str]
) -> None:
    url = f"https://calls.example.com/{path}" + (f"?{urlencode(query)}" if query else "")
    multi = _MultiDict()
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    assert compute_signature(url, pairs, TOKEN) == ORACLE.compute_signature(url, multi)


@given(pairs=st.lists(st.tuples(_text, _text), max_size=6))
def test_oracle_signed_form_accepted(pairs: list[tuple[str, str]]) -> None:
    multi = _MultiDict()
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    signature = ORACLE.compute_signature(HOOK_URL, multi)
    PROVIDER.verify(_form_request(pairs, signature=signature), CREDS, now=NOW)


@pytest.mark.parametrize(
    ("called", "signed"),
    [
        ("https://calls.example.com/hooks/pbx/7", "https://calls.example.com:443/hooks/pbx/7"),
        ("https://calls.example.com:443/hooks/pbx/7", "https://calls.example.com/hooks/pbx/7"),
        ("http://calls.example.com/hooks/pbx/7", "http://calls.example.com:80/hooks/pbx/7"),
        ("https://calls.example.com:8443/h?x=1", "https://calls.example.com/h?x=1"),
    ],
)
def test_url_with_and_without_port(called: str, signed: str) -> None:
    params = _status()
    signature = ORACLE.compute_signature(signed, params)
    assert ORACLE.validate(called, params, signature)  # we accept what the oracle accepts
    PROVIDER.verify(_form_request(params, url=called, signature=signature), CREDS, now=NOW)


def test_url_variants() -> None:
    assert url_variants("https://h.example/p?q=1") == [
        "https://h.example/p?q=1",
        "https://h.example/p?q=1",
        "https://h.example:443/p?q=1",
    ]


def test_json_body_signed_through_body_sha256() -> None:
    body = json.dumps({"CallSid": "CA1", "CallStatus": "completed", "To": "+1", "From": "+2"})
    url = f"{HOOK_URL}?bodySHA256={hashlib.sha256(body.encode()).hexdigest()}"
    signature = ORACLE.compute_signature(url, {})
    assert ORACLE.validate(url, body, signature)
    request = InboundRequest(
        method="POST",
        url=url,
        subpath="",
        query={"bodySHA256": hashlib.sha256(body.encode()).hexdigest()},
        headers={"x-twilio-signature": signature},
        body=body.encode(),
        content_type="application/json",
    )
    PROVIDER.verify(request, CREDS, now=NOW)
    [event] = PROVIDER.parse(request, CREDS, now=NOW)
    assert (event.provider_call_id, event.kind, event.called) == ("CA1", "ended", "+1")

    tampered = replace(request, body=body.replace("+1", "+9").encode())
    assert not ORACLE.validate(url, tampered.body.decode(), signature)
    with pytest.raises(SignatureInvalid, match="bodySHA256"):
        PROVIDER.verify(tampered, CREDS, now=NOW)


def test_json_body_without_body_sha256_rejected() -> None:
    body = b'{"CallSid": "CA1"}'
    request = InboundRequest(
        method="POST",
        url=HOOK_URL,
        subpath="",
        query={},
        headers={"x-twilio-signature": ORACLE.compute_signature(HOOK_URL, {})},
        body=body,
        content_type="application/json",
    )
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(request, CREDS, now=NOW)


def test_get_callback_signs_the_url_only() -> None:
    params = _status(CallStatus="completed", CallDuration="5")
    url = f"{HOOK_URL}?{urlencode(params)}"
    request = InboundRequest(
        method="GET",
        url=url,
        subpath="",
        query=params,
        headers={"x-twilio-signature": ORACLE.compute_signature(url, {})},
        body=b"",
        content_type="",
    )
    PROVIDER.verify(request, CREDS, now=NOW)
    [event] = PROVIDER.parse(request, CREDS, now=NOW)
    assert (event.kind, event.outcome, event.duration_s) == ("ended", "answered", 5)


@pytest.mark.parametrize("algorithm", ["HMAC_SHA1", "HMAC_SHA256"])
def test_shared_key_signature(algorithm: str) -> None:
    shared = "sk_secret_value"
    params = _status()
    signature = RequestValidator(shared).compute_signature(HOOK_URL, params, algorithm)
    headers = {"x-twilio-webhooks-signature-settings": f"key=KS123,algorithm={algorithm}"}
    request = _form_request(params, signature=signature, headers=headers)
    PROVIDER.verify(request, {**CREDS, "shared_key_secret": shared}, now=NOW)
    with pytest.raises(SignatureInvalid, match="shared_key_secret"):
        PROVIDER.verify(request, CREDS, now=NOW)


def test_shared_key_with_unknown_algorithm_rejected() -> None:
    headers = {"x-twilio-webhooks-signature-settings": "key=KS1,algorithm=HMAC_MD5"}
    request = _form_request(_status(), headers=headers)
    with pytest.raises(SignatureInvalid, match="algorithm"):
        PROVIDER.verify(request, {**CREDS, "shared_key_secret": "s"}, now=NOW)


def test_forged_parameter_rejected() -> None:
    genuine = _form_request(_status())
    forged = _form_request(
        _status(To="+70000000000"), signature=genuine.headers["x-twilio-signature"]
    )
    with pytest.raises(SignatureInvalid) as info:
        PROVIDER.verify(forged, CREDS, now=NOW)
    assert info.value.status_code == 401


def test_other_url_rejected() -> None:
    request = _form_request(_status())
    moved = replace(request, url=HOOK_URL.replace("/7", "/8"))
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(moved, CREDS, now=NOW)


def test_wrong_token_rejected() -> None:
    with pytest.raises(SignatureInvalid):
        PROVIDER.verify(_form_request(_status()), {"auth_token": "54321"}, now=NOW)


def test_missing_signature_rejected() -> None:
    request = _form_request(_status())
    unsigned = replace(request, headers={})
    with pytest.raises(SignatureInvalid, match="missing"):
        PROVIDER.verify(unsigned, CREDS, now=NOW)


# ---- mapping -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("queued", "started"),
        ("initiated", "started"),
        ("ringing", "started"),
        ("in-progress", "answered"),
    ],
)
def test_progress_statuses(status: str, kind: str) -> None:
    [event] = PROVIDER.parse(_form_request(_status(CallStatus=status)), CREDS, now=NOW)
    assert event.kind == kind
    assert event.outcome is None
    assert event.provider_call_id == "CA1111"
    assert (event.caller, event.called) == ("+79001234567", "+74951234567")
    assert event.occurred_at == NOW  # the voice request carries no Timestamp
    assert event.dedup_key == f"CA1111:{status}"
    assert event.direction == "inbound"


@pytest.mark.parametrize(
    ("status", "duration", "outcome"),
    [
        ("completed", "17", "answered"),
        ("completed", "0", "missed"),
        ("completed", "<absent>", "missed"),
        ("busy", "0", "busy"),
        ("failed", "0", "failed"),
        ("no-answer", "0", "missed"),
        ("canceled", "0", "missed"),
    ],
)
def test_final_statuses(status: str, duration: str, outcome: str) -> None:
    params = _status(CallStatus=status, CallDuration=duration)
    [event] = PROVIDER.parse(_form_request(params), CREDS, now=NOW)
    assert (event.kind, event.outcome) == ("ended", outcome)


def test_status_callback_fields() -> None:
    params = _status(
        CallStatus="completed",
        CallDuration="63",
        Timestamp="Mon, 15 Jan 2024 10:31:03 +0000",
        SequenceNumber="3",
        CallbackSource="call-progress-events",
        RecordingUrl="https://api.twilio.com/2010-04-01/Accounts/AC0000/Recordings/RE1",
        RecordingSid="RE1",
    )
    [event] = PROVIDER.parse(_form_request(params), CREDS, now=NOW)
    assert event.occurred_at == datetime(2024, 1, 15, 10, 31, 3, tzinfo=UTC)
    assert event.sequence == 3
    assert event.duration_s == 63
    assert event.recording_url == params["RecordingUrl"]
    assert event.dedup_key == "CA1111:completed"


def test_recording_callback() -> None:
    params = {
        "AccountSid": "AC0000",
        "CallSid": "CA1111",
        "RecordingSid": "RE22",
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC0000/Recordings/RE22",
        "RecordingStatus": "completed",
        "RecordingDuration": "12",
    }
    [event] = PROVIDER.parse(_form_request(params), CREDS, now=NOW)
    assert (event.kind, event.provider_call_id) == ("recording", "CA1111")
    assert event.recording_url == params["RecordingUrl"]
    assert event.dedup_key == "CA1111:recording:RE22"


@pytest.mark.parametrize("status", ["in-progress", "absent", "failed"])
def test_unfinished_recording_ignored(status: str) -> None:
    params = {"CallSid": "CA1", "RecordingSid": "RE1", "RecordingStatus": status}
    assert PROVIDER.parse(_form_request(params), CREDS, now=NOW) == []


def test_outbound_api_call_is_outbound() -> None:
    [event] = PROVIDER.parse(_form_request(_status(Direction="outbound-api")), CREDS, now=NOW)
    assert event.direction == "outbound"


def test_dial_child_leg_ignored() -> None:
    params = _status(Direction="outbound-dial", ParentCallSid="CA0000")
    assert PROVIDER.parse(_form_request(params), CREDS, now=NOW) == []


def test_dial_action_answered() -> None:
    params = _status(
        CallStatus="in-progress",
        DialCallStatus="completed",
        DialCallSid="CA2222",
        DialCallDuration="40",
    )
    [event] = PROVIDER.parse(_form_request(params), CREDS, now=NOW)
    assert (event.kind, event.provider_call_id, event.talk_duration_s) == ("answered", "CA1111", 40)
    assert event.occurred_at == NOW - timedelta(seconds=40)
    assert event.dedup_key == "CA1111:dial:CA2222"


@pytest.mark.parametrize("dial_status", ["busy", "no-answer", "failed", "canceled"])
def test_dial_action_not_answered_ignored(dial_status: str) -> None:
    params = _status(CallStatus="in-progress", DialCallStatus=dial_status, DialCallSid="CA2")
    assert PROVIDER.parse(_form_request(params), CREDS, now=NOW) == []


def test_unknown_status_ignored() -> None:
    assert PROVIDER.parse(_form_request(_status(CallStatus="teleported")), CREDS, now=NOW) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (_status(CallSid="<absent>"), "CallSid"),
        (_status(CallStatus="<absent>"), "CallStatus"),
        (_status(Timestamp="the other day"), "Timestamp"),
        (_status(CallStatus="completed", CallDuration="a while"), "CallDuration"),
        (_status(SequenceNumber="-1"), "SequenceNumber"),
        (_status(RecordingUrl="ftp://x/y"), "RecordingUrl"),
        ({"CallSid": "CA1", "RecordingSid": "RE1"}, "RecordingUrl"),
    ],
)
def test_malformed_fields_named(params: dict[str, str], field: str) -> None:
    with pytest.raises(MalformedEvent) as info:
        PROVIDER.parse(_form_request(params), CREDS, now=NOW)
    assert info.value.field == field


def test_undecodable_form_is_400() -> None:
    request = replace(_form_request(_status()), body=b"CallSid=%FF%FE")
    with pytest.raises(MalformedBody):
        PROVIDER.verify(request, CREDS, now=NOW)
    with pytest.raises(MalformedBody):
        PROVIDER.parse(request, CREDS, now=NOW)
