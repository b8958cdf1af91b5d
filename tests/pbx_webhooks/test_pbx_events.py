"""The shared vocabulary: errors carry the right status, helpers decode strictly, the registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.calls.events import CallEvent
from app.exceptions import AppError, BadRequest, InvalidField, Unauthorized
from pbx_webhooks.events import (
    MalformedBody,
    MalformedEvent,
    SignatureInvalid,
    decode_form,
    decode_form_pairs,
    http_url,
    opt_count,
    opt_int,
    opt_str,
    parse_iso,
    received_at,
)
from pbx_webhooks.providers import PROVIDERS, Provider, get_provider


def test_error_statuses() -> None:
    assert issubclass(SignatureInvalid, Unauthorized)
    assert SignatureInvalid("x").status_code == 401
    assert issubclass(MalformedEvent, InvalidField)
    error = MalformedEvent("data.id", "is required")
    assert (error.status_code, error.field, error.detail) == (
        422,
        "data.id",
        "data.id: is required",
    )
    assert issubclass(MalformedBody, BadRequest)
    assert MalformedBody("x").status_code == 400
    assert all(issubclass(e, AppError) for e in (SignatureInvalid, MalformedEvent, MalformedBody))


def test_call_event_defaults() -> None:
    event = CallEvent("c", "started", datetime(2024, 1, 1, tzinfo=UTC), None, None)
    assert event.direction == "inbound"
    assert event.dedup_key == ""
    assert (event.outcome, event.sequence, event.recording_url) == (None, None, None)


def test_registry() -> None:
    assert set(PROVIDERS) == {"generic", "twilio", "zadarma", "mango", "telnyx"}
    for name, provider in PROVIDERS.items():
        assert provider.name == name
        assert get_provider(name) is provider
    with pytest.raises(KeyError, match="known: generic"):
        get_provider("asterisk")


def test_providers_satisfy_the_protocol() -> None:
    providers: list[Provider] = list(PROVIDERS.values())
    assert len(providers) == 5


def test_form_keeps_repeats_in_pairs_and_first_in_fields() -> None:
    assert decode_form_pairs(b"a=1&b=&a=2&c=x+y%21") == [
        ("a", "1"),
        ("b", ""),
        ("a", "2"),
        ("c", "x y!"),
    ]
    assert decode_form(b"a=1&a=2") == {"a": "1"}


@pytest.mark.parametrize("body", [b"\xff", b"a=%FF"])
def test_form_not_utf8(body: bytes) -> None:
    with pytest.raises(MalformedBody):
        decode_form(body)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5), ("5", 5), (" 7 ", 7), (3.0, 3), ("3.0", 3), (None, None), ("", None)],
)
def test_opt_int(value: object, expected: int | None) -> None:
    assert opt_int({"n": value}, "n") == expected


@pytest.mark.parametrize("value", [True, 1.5, "1.5", "x", "nan", "inf", [1], {"a": 1}])
def test_opt_int_rejects(value: object) -> None:
    with pytest.raises(MalformedEvent) as info:
        opt_int({"n": value}, "n", "outer.")
    assert info.value.field == "outer.n"


def test_opt_count_rejects_negative() -> None:
    with pytest.raises(MalformedEvent, match="negative"):
        opt_count({"n": -1}, "n")


def test_opt_str() -> None:
    assert opt_str({"a": 12}, "a") == "12"
    assert opt_str({"a": ""}, "a") is None
    assert opt_str({}, "a") is None
    with pytest.raises(MalformedEvent):
        opt_str({"a": True}, "a")


def test_parse_iso_normalises_to_utc() -> None:
    moment = parse_iso("2024-01-15T13:30:00+03:00", "t")
    assert moment == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize("url", ["https://a.example/x.mp3", "http://10.0.0.1:8080/r?id=1"])
def test_http_url_ok(url: str) -> None:
    assert http_url(url, "u") == url


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://a/b", "https://", "/relative"])
def test_http_url_rejected(url: str) -> None:
    with pytest.raises(MalformedEvent):
        http_url(url, "u")


def test_received_at_is_utc() -> None:
    moscow = datetime(2024, 1, 15, 13, 30, tzinfo=timezone(timedelta(hours=3)))
    assert received_at(moscow) == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    assert received_at(None).tzinfo is UTC
