"""Calls: PBX events folded into one call, attributed when it starts, flagged when it ends."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.calls import repository
from app.calls.attribution import Attribution, attribute
from app.calls.events import CallEvent
from app.calls.merge import CallFacts, facts_from, final_outcome, fold
from app.exceptions import InvalidField, NotFound
from app.kit.phones import is_identifiable, to_e164
from app.models import Call, TrackingSession
from app.reports import rollups
from app.reports.call_filters import CallFilters
from crm_push.outbox import ConnectorRef, enqueue_for_call

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


@dataclass(frozen=True, slots=True)
class CallKey:
    """What attribution and the outbox read of a call being recorded."""

    id: uuid.UUID
    site_id: uuid.UUID
    caller: str | None
    called: str | None
    started_at: datetime


def _facts(row: dict[str, Any]) -> CallFacts:
    return CallFacts(
        provider_call_id=row["provider_call_id"],
        status=row["status"],
        started_at=row["started_at"],
        caller=row["caller"],
        called=row["called"],
        answered_at=row["answered_at"],
        ended_at=row["ended_at"],
        outcome=row["reported_outcome"],
        duration=row["duration"],
        talk_duration=row["talk_duration"],
        recording_url=row["recording_url"],
        last_sequence=row["last_sequence"],
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
) -> uuid.UUID:
    """Merge one verified event into its call; attribute a new call; flag an ended one.
    `country` is the site's: numbers are read as a local caller writes them. Returns the
    call's id.

    The call is handled as a plain row (one upsert that creates or locks it, one UPDATE that
    writes it back): loading and flushing it through the ORM cost more than everything else
    an event does."""
    event = _normalised(event, country)
    first = facts_from(event)
    values = {
        "id": uuid.uuid4(),
        "site_id": site_id,
        "integration_id": integration_id,
        **_columns(first),
        "outcome": final_outcome(first),
        "tracking_number_id": None,
        "first_time_caller": False,
        "possible_spam": False,
        "attribution_method": "none",
        "confidence": 0.0,
        "confidence_reason": None,
        "attribution_conflict": False,
        **dict.fromkeys(_FROM_SESSION),
        "created_at": now,
        "updated_at": now,
    }
    row, created = await repository.lock_or_create(db, values)
    credited_as = _credited_as(row)
    before = _facts(row)
    after = before if created else fold(before, event)
    row.update(_columns(after), outcome=final_outcome(after), updated_at=now)
    key = CallKey(row["id"], site_id, row["caller"], row["called"], row["started_at"])
    if created or after.started_at != before.started_at or after.called != before.called:
        row.update(await _attribute(db, key))
    if after.status == "ended":
        row["possible_spam"] = await _possible_spam(db, key, duration=row["duration"])
    await repository.write_back(db, row)
    # The reports' rollups follow the call (noted in its transaction); a repeated or
    # recording event changes nothing they count, and costs no round trip.
    if created or _credited_as(row) != credited_as:
        moved = None if created or after.started_at == before.started_at else before.started_at
        await rollups.note_changed_calls(db, [key.id], moved_from=moved)
    # The CRM outbox rows go in this same transaction: a stored call is a call that is pushed.
    if created:
        await enqueue_for_call(db, call=key, event="call.started", now=now, connectors=connectors)
    if after.status == "ended" and (created or before.status != "ended"):
        await enqueue_for_call(
            db, call=key, event="call.attributed", now=now, connectors=connectors, facts=row
        )
        if row["outcome"] != "answered":
            await enqueue_for_call(
                db, call=key, event="call.missed", now=now, connectors=connectors
            )
    return key.id


# What the reports' credits read of a call (app.reports.credits).
_CREDITED = (
    "started_at",
    "status",
    "outcome",
    "first_time_caller",
    "possible_spam",
    "attribution_method",
    "visitor_id",
    "source",
    "medium",
    "campaign",
    "term",
)


def _credited_as(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[name] for name in _CREDITED)


def _normalised(event: CallEvent, country: str) -> CallEvent:
    return replace(
        event, caller=_normalise(event.caller, country), called=_normalise(event.called, country)
    )


def _columns(facts: CallFacts) -> dict[str, Any]:
    """The facts under their column names. Not dataclasses.asdict: it deep-copies every value,
    which cost more than the rest of the merge."""
    return {
        ("reported_outcome" if f.name == "outcome" else f.name): getattr(facts, f.name)
        for f in fields(facts)
    }


# What a dynamic attribution copies from the visit.
_FROM_SESSION = (
    "session_id",
    "visitor_id",
    "source",
    "medium",
    "campaign",
    "term",
    "content",
    "landing_url",
    "referrer",
    "gclid",
    "yclid",
)


async def _attribute(db: AsyncSession, call: CallKey) -> dict[str, Any]:
    """The attribution columns of the call."""
    earlier: list[uuid.UUID | None] = []
    # A withheld caller or an extension is nobody in particular: never a repeat caller.
    if is_identifiable(call.caller):
        earlier = await repository.earlier_call_visitors(
            db, site_id=call.site_id, caller=call.caller, before=call.started_at, exclude=call.id
        )
    result: Attribution = await attribute(db, call, earlier_visitors=earlier)
    session: TrackingSession | None = result.session
    return {
        "tracking_number_id": result.tracking_number_id,
        "attribution_method": result.method,
        "confidence": result.confidence,
        "confidence_reason": result.reason,
        "attribution_conflict": result.conflict,
        **{name: getattr(session, name) if session else None for name in _FROM_SESSION[2:]},
        "session_id": session.id if session else None,
        "visitor_id": session.visitor_id if session else None,
        # A source or offline number names its source without a visit.
        "source": result.source,
        "medium": result.medium,
        "campaign": result.campaign,
        "first_time_caller": bool(call.caller) and not earlier,
    }


async def _possible_spam(db: AsyncSession, call: CallKey, *, duration: int | None) -> bool:
    seconds = duration if duration is not None else 0
    if seconds < SPAM_SHORTER_THAN_S:
        return True
    if not is_identifiable(call.caller) or seconds >= SPAM_REPEAT_SHORTER_THAN_S:
        return False
    earlier_short = await repository.short_calls_from(
        db,
        site_id=call.site_id,
        caller=call.caller,
        since=call.started_at - SPAM_WINDOW,
        shorter_than_s=SPAM_REPEAT_SHORTER_THAN_S,
        exclude=call.id,
    )
    return earlier_short + 1 >= SPAM_REPEATS  # this call is one of the short ones


async def list_calls(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    since: datetime | None,
    until: datetime | None,
    limit: int = 500,
) -> list[Call]:
    return await repository.calls(db, site_id=site_id, since=since, until=until, limit=limit)


@dataclass(frozen=True, slots=True)
class CallPage:
    calls: list[Call]
    total: int  # every call that passes the filters, not only this page's


async def search_calls(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    since: datetime,
    until: datetime,
    filters: CallFilters,
    offset: int = 0,
    limit: int = 50,
) -> CallPage:
    """A page of the period's calls that pass `filters`, newest first, and how many pass."""
    calls = await repository.calls_page(
        db, site_id=site_id, since=since, until=until, filters=filters, offset=offset, limit=limit
    )
    total = await repository.count_calls(
        db, site_id=site_id, since=since, until=until, filters=filters
    )
    return CallPage(calls=calls, total=total)


async def call_sources(
    db: AsyncSession, *, site_id: uuid.UUID, since: datetime, until: datetime
) -> list[str]:
    return await repository.call_sources(db, site_id=site_id, since=since, until=until)


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
