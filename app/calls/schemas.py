from __future__ import annotations

import uuid
from typing import Literal

from app.kit.schemas import OutputModel, UtcTimestamp
from app.models import Call, TrackingSession


class AttributionOut(OutputModel):
    method: Literal["dynamic", "source", "offline", "none"]
    confidence: float
    reason: str | None
    conflict: bool
    session_id: uuid.UUID | None
    visitor_id: uuid.UUID | None
    source: str | None
    medium: str | None
    campaign: str | None
    term: str | None
    content: str | None
    landing_url: str | None
    referrer: str | None
    gclid: str | None
    yclid: str | None


class CallOut(OutputModel):
    id: uuid.UUID
    provider_call_id: str
    caller: str | None
    called: str | None
    started_at: UtcTimestamp
    answered_at: UtcTimestamp | None
    ended_at: UtcTimestamp | None
    duration: int | None
    talk_duration: int | None
    status: str
    outcome: str | None
    missed: bool
    first_time_caller: bool
    possible_spam: bool
    recording_url: str | None
    attribution: AttributionOut

    @classmethod
    def of(cls, call: Call) -> CallOut:
        return cls(
            id=call.id,
            provider_call_id=call.provider_call_id,
            caller=call.caller,
            called=call.called,
            started_at=call.started_at,
            answered_at=call.answered_at,
            ended_at=call.ended_at,
            duration=call.duration,
            talk_duration=call.talk_duration,
            status=call.status,
            outcome=call.outcome,
            missed=call.status == "ended" and call.outcome != "answered",
            first_time_caller=call.first_time_caller,
            possible_spam=call.possible_spam,
            recording_url=call.recording_url,
            attribution=AttributionOut(
                method=call.attribution_method,  # type: ignore[arg-type]
                confidence=call.confidence,
                reason=call.confidence_reason,
                conflict=call.attribution_conflict,
                session_id=call.session_id,
                visitor_id=call.visitor_id,
                source=call.source,
                medium=call.medium,
                campaign=call.campaign,
                term=call.term,
                content=call.content,
                landing_url=call.landing_url,
                referrer=call.referrer,
                gclid=call.gclid,
                yclid=call.yclid,
            ),
        )


class CallList(OutputModel):
    items: list[CallOut]


class SessionOut(OutputModel):
    id: uuid.UUID
    started_at: UtcTimestamp
    landing_url: str
    referrer: str | None
    source: str
    medium: str
    campaign: str | None
    term: str | None
    content: str | None
    gclid: str | None
    yclid: str | None

    @classmethod
    def of(cls, session: TrackingSession) -> SessionOut:
        return cls.model_validate(session)


class CallDetail(CallOut):
    journey: list[SessionOut]
    first_touch: SessionOut | None
    last_touch: SessionOut | None
