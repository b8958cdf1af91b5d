"""The transactional outbox: a delivery row per call and connector, written in the same
transaction as the call's state, so a call that is stored is a call that will be pushed."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Call
from crm_push import repository
from crm_push.connectors import get_connector
from crm_push.connectors.base import RECORD_EVENTS
from crm_push.connectors.base import UPDATE_EVENT as UPDATE_EVENT
from crm_push.conversion_rule import CRM_KINDS, DESTINATION_KINDS, call_facts, qualifies

# deal.won: a deal of the call was won (conversion destinations that send the value);
# call.missed: a call that ended unanswered (alert channels ask for it; CRMs do not).
CallEventName = Literal["call.started", "call.attributed", "deal.won", "call.missed"]
# A form lead's one delivery: connectors that take form leads list it among their events.
FORM_EVENT = "form"

_KEY_NAMESPACE = uuid.UUID("5d1bb7c2-8f44-4f5e-9a49-3f1f7a6c2b10")


def idempotency_key(*, connector_id: uuid.UUID, call_id: uuid.UUID, event: str) -> str:
    """The key the CRM keeps with the record. Derived, not random: the same (connector, call,
    event) always has the same key, whatever happens to the row. (A form lead's id stands in
    for the call's: ids are random UUIDs, and its event differs.)"""
    return "cs_" + uuid.uuid5(_KEY_NAMESPACE, f"{connector_id}/{call_id}/{event}").hex


def digest_key(*, connector_id: uuid.UUID, day: date) -> str:
    """A digest's key: one per rule and local day, so a day is summed up once."""
    return "cs_" + uuid.uuid5(_KEY_NAMESPACE, f"{connector_id}/digest/{day.isoformat()}").hex


@dataclass(frozen=True, slots=True)
class ConnectorRef:
    """What the outbox needs of a connector: which events it wants."""

    id: uuid.UUID
    kind: str
    config: Mapping[str, Any]


async def live_connectors(db: AsyncSession, *, site_id: uuid.UUID) -> list[ConnectorRef]:
    found = await repository.CONNECTORS.list_on_site(db, site_id=site_id)
    return [ConnectorRef(c.id, c.kind, dict(c.config)) for c in found]


class CallRef(Protocol):
    """The call a delivery is for: an ORM Call, or the row being recorded."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def site_id(self) -> uuid.UUID: ...


async def enqueue_for_call(
    db: AsyncSession,
    *,
    call: CallRef,
    event: CallEventName,
    now: datetime,
    connectors: Sequence[ConnectorRef] | None = None,
    facts: Mapping[str, Any] | None = None,
) -> None:
    """One delivery per active connector of the call's site that wants `event`; repeating it
    (a replayed PBX event) adds nothing. Does not commit: the caller's transaction does.
    `connectors`: the site's live connectors, when the caller already has them. `facts`: the
    call's columns (outcome, talk time, flags, click ids) when the caller holds them; else
    they are read when a conversion destination has to decide whether the call qualifies."""
    if connectors is None:
        connectors = await live_connectors(db, site_id=call.site_id)
    for connector in connectors:
        config = dict(connector.config)
        if event not in get_connector(connector.kind).events(config):
            continue
        if connector.kind in DESTINATION_KINDS:
            if facts is None:
                row = call if isinstance(call, Call) else await db.get(Call, call.id)
                if row is None:
                    continue
                facts = call_facts(row)
            if not qualifies(connector.kind, config, facts):
                continue
        await _insert(db, connector=connector, call_id=call.id, lead_id=None, event=event, now=now)


# Platforms whose value adjustment states the value outright (Google Ads' RESTATEMENT), so
# sending it again after a correction sets the new value rather than adding a second sale.
RESTATING_KINDS = frozenset({"google_ads"})


async def resend_value(db: AsyncSession, *, call_id: uuid.UUID, now: datetime) -> int:
    """Make the call's sent (or dead) deal.won deliveries to restating platforms pending
    again, with fresh attempts; the number made pending."""
    return await repository.rearm_deliveries(
        db, call_id=call_id, event="deal.won", kinds=RESTATING_KINDS, now=now
    )


async def queue_call_update(
    db: AsyncSession,
    *,
    call: Call,
    now: datetime,
    connectors: Sequence[ConnectorRef] | None = None,
) -> int:
    """A call's tags or lead status changed: one `call.updated` delivery per live CRM
    connector of its site that takes updates, in the caller's transaction. The outbox keeps
    one row per (connector, call, event), so a row already there (sent, dead, waiting or in
    flight) is re-armed: its body is built when it is sent, from the call as it is then, so
    the CRM gets the latest tags and status however many changes came in between. An ended
    call that a connector has no delivery of (it was connected later) is never in that CRM,
    so nothing is queued for it. The number of connectors the change goes to."""
    if connectors is None:
        connectors = await live_connectors(db, site_id=call.site_id)
    wanted = [
        c
        for c in connectors
        if c.kind in CRM_KINDS and UPDATE_EVENT in get_connector(c.kind).events(dict(c.config))
    ]
    if not wanted:
        return 0
    known = await repository.connectors_with_deliveries(db, call_id=call.id, events=RECORD_EVENTS)
    queued = 0
    for connector in wanted:
        if call.status == "ended" and connector.id not in known:
            continue
        inserted = await _insert(
            db, connector=connector, call_id=call.id, lead_id=None, event=UPDATE_EVENT, now=now
        )
        if not inserted:
            await repository.rearm_delivery(
                db, connector_id=connector.id, call_id=call.id, event=UPDATE_EVENT, now=now
            )
        queued += 1
    return queued


class LeadRef(Protocol):
    """The form lead a delivery is for."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def site_id(self) -> uuid.UUID: ...


async def enqueue_for_lead(
    db: AsyncSession,
    *,
    lead: LeadRef,
    now: datetime,
    connectors: Sequence[ConnectorRef] | None = None,
) -> None:
    """One delivery of a new form lead per active connector of its site that takes form leads
    (`FORM_EVENT` among its events); in the caller's transaction, like a call's."""
    if connectors is None:
        connectors = await live_connectors(db, site_id=lead.site_id)
    for connector in connectors:
        if FORM_EVENT in get_connector(connector.kind).events(dict(connector.config)):
            await _insert(
                db, connector=connector, call_id=None, lead_id=lead.id, event=FORM_EVENT, now=now
            )


async def _insert(
    db: AsyncSession,
    *,
    connector: ConnectorRef,
    call_id: uuid.UUID | None,
    lead_id: uuid.UUID | None,
    event: str,
    now: datetime,
) -> bool:
    subject = call_id or lead_id
    assert subject is not None
    return await repository.insert_delivery(
        db,
        {
            "id": uuid.uuid4(),
            "connector_id": connector.id,
            "call_id": call_id,
            "lead_id": lead_id,
            "event": event,
            "idempotency_key": idempotency_key(
                connector_id=connector.id, call_id=subject, event=event
            ),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
            "external_id": None,
            "external_refs": None,
            "claim_token": None,
            "maybe_created": False,
            "created_at": now,
            "updated_at": now,
            "sent_at": None,
        },
    )


async def enqueue_digest(
    db: AsyncSession,
    *,
    connector_id: uuid.UUID,
    event: str,
    day: date,
    payload: dict[str, Any],
    now: datetime,
) -> bool:
    """The digest of `day` for one alert rule, unless it is queued already; True if queued."""
    return await repository.insert_delivery(
        db,
        {
            "id": uuid.uuid4(),
            "connector_id": connector_id,
            "call_id": None,
            "lead_id": None,
            "event": event,
            "digest_day": day,
            "payload": payload,
            "idempotency_key": digest_key(connector_id=connector_id, day=day),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
            "external_id": None,
            "external_refs": None,
            "claim_token": None,
            "maybe_created": False,
            "created_at": now,
            "updated_at": now,
            "sent_at": None,
        },
    )
