"""The body of the signed CRM webhook: a contract of its own, version 1.

Receivers parse this body in code we never see, so it does not follow the admin API's view of
a call: a field added to, renamed in or dropped from `GET /calls` must not reach them unasked.
It is built here from the `Call` row and pinned field by field by
tests/crm_push/webhook_body; docs/crm-webhook.md describes every field. Any change to these
models is a new version: bump `SCHEMA_VERSION`, say what changed in the doc's versioning
section, and update the pinned list and samples.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from app.kit.schemas import UtcTimestamp
from app.models import Call, FormLead

# Sent as the `x-callsource-schema` header, outside the signed body, so version 1 receivers
# see the body they always did.
SCHEMA_VERSION = 1

# The events a delivery can be for (crm_push.outbox.CallEventName; a test keeps them equal).
EventType = Literal["call.started", "call.attributed"]
AttributionMethod = Literal["dynamic", "source", "offline", "none"]


class _BodyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookAttribution(_BodyModel):
    method: AttributionMethod
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

    @classmethod
    def of(cls, call: Call) -> WebhookAttribution:
        return cls(
            method=call.attribution_method,  # type: ignore[arg-type]  # validated here
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
        )


class WebhookCall(_BodyModel):
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
    attribution: WebhookAttribution

    @classmethod
    def of(cls, call: Call) -> WebhookCall:
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
            attribution=WebhookAttribution.of(call),
        )


class WebhookData(_BodyModel):
    site_id: uuid.UUID
    call: WebhookCall


class WebhookBody(_BodyModel):
    """The Standard Webhooks envelope: `type`, `timestamp` and the event's `data`."""

    type: EventType
    timestamp: UtcTimestamp
    data: WebhookData

    @classmethod
    def of(cls, event: str, call: Call, *, now: datetime) -> WebhookBody:
        return cls(
            type=event,  # type: ignore[arg-type]  # validated here
            timestamp=now,
            data=WebhookData(site_id=call.site_id, call=WebhookCall.of(call)),
        )

    def encode(self) -> bytes:
        """The bytes that are signed and sent: compact JSON, UTF-8 text left unescaped."""
        return _compact(self.model_dump(mode="json"))


def _compact(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


# --- form leads: an addition to version 1 -------------------------------------------------
# Sent only to connectors whose events include "form" (none did before it existed), so no
# receiver of call messages gets a type it was not written for; the call messages above are
# unchanged, byte for byte. docs/crm-webhook.md, "Form leads", describes every field.


class WebhookFormAttribution(_BodyModel):
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


class WebhookLead(_BodyModel):
    id: uuid.UUID
    created_at: UtcTimestamp
    url: str
    form_id: str | None
    name: str | None
    phone: str | None
    email: str | None
    fields: dict[str, str]
    attribution: WebhookFormAttribution

    @classmethod
    def of(cls, lead: FormLead) -> WebhookLead:
        return cls(
            id=lead.id,
            created_at=lead.created_at,
            url=lead.url,
            form_id=lead.form_id,
            name=lead.name,
            phone=lead.phone,
            email=lead.email,
            fields={str(k): str(v) for k, v in lead.fields.items()},
            attribution=WebhookFormAttribution(
                session_id=lead.session_id,
                visitor_id=lead.visitor_id,
                source=lead.source,
                medium=lead.medium,
                campaign=lead.campaign,
                term=lead.term,
                content=lead.content,
                landing_url=lead.landing_url,
                referrer=lead.referrer,
                gclid=lead.gclid,
                yclid=lead.yclid,
            ),
        )


class WebhookFormData(_BodyModel):
    site_id: uuid.UUID
    lead: WebhookLead


class WebhookFormBody(_BodyModel):
    """A form lead: `{"type": "form", "timestamp", "data": {"site_id", "lead"}}`."""

    type: Literal["form"]
    timestamp: UtcTimestamp
    data: WebhookFormData

    @classmethod
    def of(cls, lead: FormLead, *, now: datetime) -> WebhookFormBody:
        return cls(
            type="form",
            timestamp=now,
            data=WebhookFormData(site_id=lead.site_id, lead=WebhookLead.of(lead)),
        )

    def encode(self) -> bytes:
        return _compact(self.model_dump(mode="json"))


# --- tag and status changes: an addition to version 1 --------------------------------------
# Sent only to connectors whose events include "call.updated" (none did before it existed);
# the call and form messages above are unchanged. docs/crm-webhook.md, "Tag and status
# changes", describes every field.

LeadStatusName = Literal["new", "in_progress", "qualified", "spam"]


class WebhookCallUpdate(_BodyModel):
    id: uuid.UUID
    tags: list[str]
    lead_status: LeadStatusName
    changed_at: UtcTimestamp


class WebhookUpdateData(_BodyModel):
    site_id: uuid.UUID
    call: WebhookCallUpdate


class WebhookUpdateBody(_BodyModel):
    """`{"type": "call.updated", "timestamp", "data": {"site_id", "call": {"id", "tags",
    "lead_status", "changed_at"}}}`: the call's tags and lead status as they are now."""

    type: Literal["call.updated"]
    timestamp: UtcTimestamp
    data: WebhookUpdateData

    @classmethod
    def of(
        cls, call: Call, *, tags: Sequence[str], changed_at: datetime, now: datetime
    ) -> WebhookUpdateBody:
        update = WebhookCallUpdate(
            id=call.id,
            tags=list(tags),
            lead_status=call.lead_status or "new",  # type: ignore[arg-type]  # validated here
            changed_at=changed_at,
        )
        return cls(
            type="call.updated",
            timestamp=now,
            data=WebhookUpdateData(site_id=call.site_id, call=update),
        )

    def encode(self) -> bytes:
        return _compact(self.model_dump(mode="json"))
