"""Calls: PBX events folded into one call, attributed when it starts, flagged when it ends."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.calls import repository
from app.calls.attribution import Attribution, attribute
from app.calls.merge import CallFacts, facts_from, final_outcome, fold
from app.exceptions import InvalidField, NotFound
from app.kit.phones import to_e164
from app.models import Call, TrackingSession
from crm_push.outbox import ConnectorRef, enqueue_for_call
from pbx_webhooks.events import CallEvent

SPAM_SHORTER_THAN_S = 10
# "Repeated short calls": this many calls under half a minute from one caller within a day.
SPAM_REPEAT_SHORTER_THAN_S = 30
SPAM_REPEATS = 3
SPAM_WINDOW = timedelta(days=1)


def _normalise(raw: str | None, country: str) -> str | None:
    """E.164 when the text parses as a phone number; the raw text otherwise (an extension,
    "anonymous"), so nothing the PBX said is lost."""
    if not raw:
        return None
    try:
        return to_e164(raw, country, field="number")
    except InvalidField:
        return raw[:32]


def _facts(call: Call) -> CallFacts:
    return CallFacts(
        provider_call_id=call.provider_call_id,
        status=call.status,
        started_at=call.started_at,
        caller=call.caller,
        called=call.called,
        answered_at=call.answered_at,
        ended_at=call.ended_at,
        outcome=call.reported_outcome,
        duration=call.duration,
        talk_duration=call.talk_duration,
        recording_url=call.recording_url,
        last_sequence=call.last_sequence,
    )


async def record_event(
    db: AsyncSession,
    *,
    integration_id: uuid.UUID,
    site_id: uuid.UUID,
    country: str,
    event: CallEvent,
    now: datetime,
    connectors: Sequence[ConnectorRef] | None = None,
) -> Call:
    """Merge one verified event into its call; attribute a new call; flag an ended one.
    `country` is the site's: numbers are read as a local caller writes them."""
    event = _normalised(event, country)
    first = facts_from(event)
    values = {
        "id": uuid.uuid4(),
        "site_id": site_id,
        "integration_id": integration_id,
        **_columns(first),
        "outcome": final_outcome(first),
        "first_time_caller": False,
        "possible_spam": False,
        "attribution_method": "none",
        "confidence": 0.0,
        "attribution_conflict": False,
        "created_at": now,
        "updated_at": now,
    }
    call, created = await repository.lock_or_create(db, values)
    before = _facts(call)
    after = before if created else fold(before, event)
    _apply(call, after)
    call.updated_at = now
    if created or after.started_at != before.started_at or after.called != before.called:
        await _attribute(db, call)
    if after.status == "ended":
        call.possible_spam = await _possible_spam(db, call)
    await db.flush()
    # The CRM outbox rows go in this same transaction: a stored call is a call that is pushed.
    if created:
        await enqueue_for_call(db, call=call, event="call.started", now=now, connectors=connectors)
    if after.status == "ended" and (created or before.status != "ended"):
        await enqueue_for_call(
            db, call=call, event="call.attributed", now=now, connectors=connectors
        )
    return call


def _normalised(event: CallEvent, country: str) -> CallEvent:
    return replace(
        event, caller=_normalise(event.caller, country), called=_normalise(event.called, country)
    )


def _columns(facts: CallFacts) -> dict[str, object]:
    """The facts under their column names. Not dataclasses.asdict: it deep-copies every value,
    which cost more than the rest of the merge."""
    return {
        ("reported_outcome" if f.name == "outcome" else f.name): getattr(facts, f.name)
        for f in fields(facts)
    }


def _apply(call: Call, facts: CallFacts) -> None:
    for name, value in _columns(facts).items():
        setattr(call, name, value)
    call.outcome = final_outcome(facts)


async def _attribute(db: AsyncSession, call: Call) -> None:
    earlier: list[uuid.UUID | None] = []
    if call.caller:
        earlier = await repository.earlier_call_visitors(
            db, site_id=call.site_id, caller=call.caller, before=call.started_at, exclude=call.id
        )
    result: Attribution = await attribute(db, call, earlier_visitors=earlier)
    session: TrackingSession | None = result.session
    call.tracking_number_id = result.tracking_number_id
    call.attribution_method = result.method
    call.confidence = result.confidence
    call.confidence_reason = result.reason
    call.attribution_conflict = result.conflict
    call.session_id = session.id if session else None
    call.visitor_id = session.visitor_id if session else None
    call.source = result.source
    call.medium = result.medium
    call.campaign = result.campaign
    call.term = session.term if session else None
    call.content = session.content if session else None
    call.landing_url = session.landing_url if session else None
    call.referrer = session.referrer if session else None
    call.gclid = session.gclid if session else None
    call.yclid = session.yclid if session else None
    call.first_time_caller = bool(call.caller) and not earlier


async def _possible_spam(db: AsyncSession, call: Call) -> bool:
    duration = call.duration if call.duration is not None else 0
    if duration < SPAM_SHORTER_THAN_S:
        return True
    if not call.caller or duration >= SPAM_REPEAT_SHORTER_THAN_S:
        return False
    await db.flush()  # this call counts among the caller's short calls
    short = await repository.short_calls_from(
        db,
        site_id=call.site_id,
        caller=call.caller,
        since=call.started_at - SPAM_WINDOW,
        shorter_than_s=SPAM_REPEAT_SHORTER_THAN_S,
    )
    return short >= SPAM_REPEATS


async def list_calls(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    since: datetime | None,
    until: datetime | None,
    limit: int = 500,
) -> list[Call]:
    return await repository.calls(db, site_id=site_id, since=since, until=until, limit=limit)


async def get_call(db: AsyncSession, *, site_id: uuid.UUID, call_id: uuid.UUID) -> Call:
    call = await db.get(Call, call_id)
    if call is None or call.site_id != site_id:
        raise NotFound(f"call {call_id} not found on site {site_id}")
    return call


async def journey(db: AsyncSession, call: Call) -> list[TrackingSession]:
    """Every session of the caller's visitor up to the call, oldest first."""
    if call.visitor_id is None:
        return []
    return await repository.journey(db, visitor_id=call.visitor_id, before=call.started_at)
