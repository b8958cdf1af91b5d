"""Calls as the CRM webhook describes them: one ended and attributed, with every field set
(and text beyond ASCII, which is sent as UTF-8, not escaped), one missed, and one just ringing,
where most fields are still null."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from app.models import Call

SITE_ID = uuid.UUID("0d6b1a52-4c1e-4b7a-9a51-2f7c1f0e8d11")
SENT_AT = datetime(2026, 11, 2, 9, 31, 5, tzinfo=UTC)


def attributed_call() -> Call:
    return Call(
        id=uuid.UUID("6393410f-2b7e-4c55-8a3e-9d7b5f2c1a01"),
        site_id=SITE_ID,
        provider_call_id="call-92feab11d2",
        caller="+79001234567",
        called="+74950000101",
        status="ended",
        outcome="answered",
        started_at=datetime(2026, 11, 2, 9, 30, 0, tzinfo=UTC),
        answered_at=datetime(2026, 11, 2, 9, 30, 5, tzinfo=UTC),
        ended_at=datetime(2026, 11, 2, 9, 31, 5, tzinfo=UTC),
        duration=65,
        talk_duration=60,
        recording_url="https://pbx.example/records/call-92feab11d2.mp3",
        first_time_caller=True,
        possible_spam=False,
        attribution_method="dynamic",
        confidence=0.95,
        confidence_reason="the number was leased to one session when the call came in",
        attribution_conflict=False,
        session_id=uuid.UUID("b1c9e0a4-7d3f-4e21-8c6b-5a4d3e2f1a02"),
        visitor_id=uuid.UUID("c2d8f1b5-8e4a-4f32-9d7c-6b5e4f3a2b03"),
        source="yandex",
        medium="cpc",
        campaign="spring-sale",
        term="диван",
        content="banner-2",
        landing_url="https://shop.example/?utm_source=yandex&utm_medium=cpc",
        referrer="https://yandex.ru/",
        gclid=None,
        yclid="4242",
    )


def ringing_call() -> Call:
    return Call(
        id=uuid.UUID("7404521a-3c8f-4d66-9b4f-ae8c6a3d2b04"),
        site_id=SITE_ID,
        provider_call_id="call-0a1b2c3d4e",
        caller=None,
        called="+74950000101",
        status="ringing",
        outcome=None,
        started_at=datetime(2026, 11, 2, 9, 31, 0, tzinfo=UTC),
        answered_at=None,
        ended_at=None,
        duration=None,
        talk_duration=None,
        recording_url=None,
        first_time_caller=False,
        possible_spam=True,
        attribution_method="none",
        confidence=0.0,
        confidence_reason=None,
        attribution_conflict=False,
        session_id=None,
        visitor_id=None,
        source=None,
        medium=None,
        campaign=None,
        term=None,
        content=None,
        landing_url=None,
        referrer=None,
        gclid=None,
        yclid=None,
    )


def missed_call() -> Call:
    return Call(
        id=uuid.UUID("8515632b-4d9a-4e77-ac5a-bf9d7b4e3c05"),
        site_id=SITE_ID,
        provider_call_id="call-5f6e7d8c9b",
        caller="+79007654321",
        called="+74950000202",
        status="ended",
        outcome="busy",
        started_at=datetime(2026, 11, 2, 9, 20, 0, tzinfo=UTC),
        answered_at=None,
        ended_at=datetime(2026, 11, 2, 9, 20, 30, tzinfo=UTC),
        duration=30,
        talk_duration=0,
        recording_url=None,
        first_time_caller=False,
        possible_spam=False,
        attribution_method="offline",
        confidence=1.0,
        confidence_reason="an offline number: every call to it is that campaign's",
        attribution_conflict=True,
        session_id=None,
        visitor_id=None,
        source="radio",
        medium="offline",
        campaign="autumn-fm",
        term=None,
        content=None,
        landing_url=None,
        referrer=None,
        gclid=None,
        yclid=None,
    )
