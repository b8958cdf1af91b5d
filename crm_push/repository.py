"""All SQL of crm_push: connectors, the outbox and its attempts, deals, the deals poll."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud import SiteScopedRepository
from app.kit import dialect
from app.models import (
    Call,
    CallTag,
    CrmConnector,
    Deal,
    DeliveryAttempt,
    FormLead,
    OutboxDelivery,
    Site,
    TrackingSession,
)
from crm_push.connectors import ALERT_KINDS
from crm_push.conversion_rule import CRM_KINDS, DESTINATION_KINDS

# --- connectors ----------------------------------------------------------------------------


# Every receiver of the outbox, CRMs, conversion destinations and alert channels alike. The
# live list is read on every call's start and end: the repository builds it once.
CONNECTORS = SiteScopedRepository(CrmConnector, noun="connector")
# What each API shows: the CRM API only CRMs, the destinations and notifications APIs their own.
CRM_CONNECTORS = SiteScopedRepository(
    CrmConnector,
    noun="CRM connector",
    where=CrmConnector.kind.in_(sorted(CRM_KINDS)),
    belongs=lambda row: row.kind in CRM_KINDS,
)
DESTINATIONS = SiteScopedRepository(
    CrmConnector,
    noun="destination",
    where=CrmConnector.kind.in_(sorted(DESTINATION_KINDS)),
    belongs=lambda row: row.kind in DESTINATION_KINDS,
)
ALERT_RULES = SiteScopedRepository(
    CrmConnector,
    noun="notification rule",
    where=CrmConnector.kind.in_(sorted(ALERT_KINDS)),
    belongs=lambda row: row.kind in ALERT_KINDS,
)


async def connectors_by_id(
    db: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, CrmConnector]:
    query = select(CrmConnector).where(CrmConnector.id.in_(set(ids)))
    return {row.id: row for row in (await db.execute(query)).scalars()}


# --- the outbox ----------------------------------------------------------------------------


async def insert_delivery(db: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert unless this (connector, call, event) is already queued; True if inserted."""
    table = OutboxDelivery.__table__
    statement = (
        dialect.insert_on_conflict(db, table)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(table.c.id)
    )
    return (await db.execute(statement)).scalar_one_or_none() is not None


async def rearm_deliveries(
    db: AsyncSession, *, call_id: uuid.UUID, event: str, kinds: Iterable[str], now: datetime
) -> int:
    """The call's finished deliveries of `event` to live connectors of `kinds`, pending again."""
    live = select(CrmConnector.id).where(
        CrmConnector.kind.in_(set(kinds)), CrmConnector.retired_at.is_(None)
    )
    statement = (
        update(OutboxDelivery)
        .where(
            OutboxDelivery.call_id == call_id,
            OutboxDelivery.event == event,
            OutboxDelivery.status.in_(("sent", "dead")),
            OutboxDelivery.connector_id.in_(live),
        )
        .values(status="pending", attempts=0, next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    result = await db.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount


async def rearm_delivery(
    db: AsyncSession, *, connector_id: uuid.UUID, call_id: uuid.UUID, event: str, now: datetime
) -> int:
    """The (connector, call, event) row, whatever its state, pending now with fresh attempts.
    A claim held on it is dropped, so a worker in flight with the older state records nothing
    over it; `created_at` becomes the time of the change the row now carries."""
    statement = (
        update(OutboxDelivery)
        .where(
            OutboxDelivery.connector_id == connector_id,
            OutboxDelivery.call_id == call_id,
            OutboxDelivery.event == event,
        )
        .values(
            status="pending",
            attempts=0,
            next_attempt_at=now,
            last_error=None,
            claim_token=None,
            maybe_created=False,
            created_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    result = await db.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount


async def wake_waiting(
    db: AsyncSession, *, connector_id: uuid.UUID, call_id: uuid.UUID, event: str, now: datetime
) -> None:
    """The call's pending, unclaimed `event` row to this connector, due now."""
    statement = (
        update(OutboxDelivery)
        .where(
            OutboxDelivery.connector_id == connector_id,
            OutboxDelivery.call_id == call_id,
            OutboxDelivery.event == event,
            OutboxDelivery.status == "pending",
            OutboxDelivery.claim_token.is_(None),
            OutboxDelivery.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    await db.execute(statement)


async def connectors_with_deliveries(
    db: AsyncSession, *, call_id: uuid.UUID, events: Iterable[str]
) -> set[uuid.UUID]:
    """The connectors that have a delivery of one of `events` for the call, in any state."""
    query = select(OutboxDelivery.connector_id).where(
        OutboxDelivery.call_id == call_id, OutboxDelivery.event.in_(set(events))
    )
    return set((await db.execute(query)).scalars())


async def call_records(
    db: AsyncSession, pairs: Iterable[tuple[uuid.UUID, uuid.UUID]], *, events: Iterable[str]
) -> dict[tuple[uuid.UUID, uuid.UUID], OutboxDelivery]:
    """(connector id, call id) -> the sent delivery of one of `events` that made the CRM's
    record of the call: the one with an external id when there is one."""
    wanted = set(pairs)
    if not wanted:
        return {}
    query = select(OutboxDelivery).where(
        OutboxDelivery.call_id.in_({call_id for _, call_id in wanted}),
        OutboxDelivery.connector_id.in_({connector_id for connector_id, _ in wanted}),
        OutboxDelivery.event.in_(set(events)),
        OutboxDelivery.status == "sent",
    )
    found: dict[tuple[uuid.UUID, uuid.UUID], OutboxDelivery] = {}
    for row in (await db.execute(query)).scalars():
        assert row.call_id is not None
        key = (row.connector_id, row.call_id)
        if key in wanted and (key not in found or found[key].external_id is None):
            found[key] = row
    return found


async def tags_by_call(
    db: AsyncSession, call_ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, tuple[str, ...]]:
    wanted = {i for i in call_ids if i is not None}
    if not wanted:
        return {}
    query = select(CallTag.call_id, CallTag.tag).where(CallTag.call_id.in_(wanted))
    found: dict[uuid.UUID, list[str]] = {}
    for call_id, tag in (await db.execute(query.order_by(CallTag.tag))).all():
        found.setdefault(call_id, []).append(tag)
    return {call_id: tuple(tags) for call_id, tags in found.items()}


async def due_deliveries(db: AsyncSession, *, now: datetime, limit: int) -> list[OutboxDelivery]:
    """Due pending rows, oldest first, locked for this transaction; rows another worker holds
    are skipped (on PostgreSQL: SQLite is a single-worker backend, see the dialect module)."""
    query = (
        select(OutboxDelivery)
        .where(OutboxDelivery.status == "pending", OutboxDelivery.next_attempt_at <= now)
        .order_by(OutboxDelivery.next_attempt_at, OutboxDelivery.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return list((await db.execute(dialect.lock_skipping_locked(query, db))).scalars())


async def calls_by_id(db: AsyncSession, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, Call]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    query = select(Call).where(Call.id.in_(wanted))
    return {row.id: row for row in (await db.execute(query)).scalars()}


async def leads_by_id(
    db: AsyncSession, ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, FormLead]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    query = select(FormLead).where(FormLead.id.in_(wanted))
    return {row.id: row for row in (await db.execute(query)).scalars()}


async def visit_ids(
    db: AsyncSession, session_ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, tuple[str | None, str | None]]:
    """session id -> (GA client id, Metrika ClientId) the snippet read from the visit's cookies."""
    wanted = {s for s in session_ids if s is not None}
    if not wanted:
        return {}
    query = select(
        TrackingSession.id, TrackingSession.ga_client_id, TrackingSession.ym_client_id
    ).where(TrackingSession.id.in_(wanted))
    return {sid: (ga, ym) for sid, ga, ym in (await db.execute(query)).all()}


async def digest_queued(db: AsyncSession, *, connector_id: uuid.UUID, key: str) -> bool:
    query = select(OutboxDelivery.id).where(
        OutboxDelivery.connector_id == connector_id, OutboxDelivery.idempotency_key == key
    )
    return (await db.execute(query)).first() is not None


async def live_alert_rules(db: AsyncSession) -> list[CrmConnector]:
    """Every site's live alert rules (the digest step reads them all)."""
    query = (
        select(CrmConnector)
        .where(CrmConnector.kind.in_(sorted(ALERT_KINDS)), CrmConnector.retired_at.is_(None))
        .order_by(CrmConnector.site_id, CrmConnector.created_at, CrmConnector.id)
    )
    return list((await db.execute(query)).scalars())


async def delivery_counts(
    db: AsyncSession, connector_ids: Iterable[uuid.UUID]
) -> dict[tuple[uuid.UUID, str], int]:
    """(connector, status) -> deliveries, for the channels' health."""
    ids = set(connector_ids)
    if not ids:
        return {}
    query = (
        select(OutboxDelivery.connector_id, OutboxDelivery.status, func.count())
        .where(OutboxDelivery.connector_id.in_(ids))
        .group_by(OutboxDelivery.connector_id, OutboxDelivery.status)
    )
    return {(cid, status): count for cid, status, count in (await db.execute(query)).all()}


async def last_error(db: AsyncSession, *, connector_id: uuid.UUID) -> tuple[str, datetime] | None:
    """The newest failure still standing on one of the connector's deliveries."""
    query = (
        select(OutboxDelivery.last_error, OutboxDelivery.updated_at)
        .where(
            OutboxDelivery.connector_id == connector_id,
            OutboxDelivery.last_error.is_not(None),
            OutboxDelivery.status != "sent",
        )
        .order_by(OutboxDelivery.updated_at.desc(), OutboxDelivery.id)
        .limit(1)
    )
    row = (await db.execute(query)).first()
    return (str(row[0]), row[1]) if row is not None else None


async def sites_by_id(db: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Site]:
    query = select(Site).where(Site.id.in_(set(ids)))
    return {row.id: row for row in (await db.execute(query)).scalars()}


async def won_deals(db: AsyncSession, call_ids: Iterable[uuid.UUID]) -> list[Deal]:
    """The won deals of these calls, oldest win first."""
    wanted = set(call_ids)
    if not wanted:
        return []
    query = (
        select(Deal)
        .where(Deal.call_id.in_(wanted), Deal.status == "won")
        .order_by(Deal.closed_at, Deal.id)
    )
    return list((await db.execute(query)).scalars())


async def update_claimed(
    db: AsyncSession, *, delivery_id: uuid.UUID, token: uuid.UUID, values: dict[str, Any]
) -> bool:
    """Write a claimed row, only while this worker's claim still holds it: a worker whose lease
    ran out finds the row taken by another claim and changes nothing."""
    statement = (
        update(OutboxDelivery)
        .where(OutboxDelivery.id == delivery_id, OutboxDelivery.claim_token == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result = await db.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def add_attempt(db: AsyncSession, values: dict[str, Any]) -> None:
    db.add(DeliveryAttempt(id=uuid.uuid4(), **values))


async def deliveries(
    db: AsyncSession, *, connector_id: uuid.UUID, status: str | None, limit: int
) -> list[OutboxDelivery]:
    query = (
        select(OutboxDelivery)
        .where(OutboxDelivery.connector_id == connector_id)
        .order_by(OutboxDelivery.updated_at.desc(), OutboxDelivery.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(OutboxDelivery.status == status)
    return list((await db.execute(query)).scalars())


async def delivery(db: AsyncSession, delivery_id: uuid.UUID) -> OutboxDelivery | None:
    query = select(OutboxDelivery).where(OutboxDelivery.id == delivery_id).with_for_update()
    return (await db.execute(query)).scalar_one_or_none()


async def attempts(
    db: AsyncSession, *, delivery_id: uuid.UUID, limit: int
) -> list[DeliveryAttempt]:
    query = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id == delivery_id)
        .order_by(DeliveryAttempt.attempted_at.desc(), DeliveryAttempt.id)
        .limit(limit)
    )
    return list((await db.execute(query)).scalars())


async def delivered_call(
    db: AsyncSession, *, connector_id: uuid.UUID, external_ids: Iterable[str]
) -> dict[str, uuid.UUID]:
    """external_id -> call id, for the records this connector created (to tie deals to calls)."""
    wanted = set(external_ids)
    if not wanted:
        return {}
    query = select(OutboxDelivery.external_id, OutboxDelivery.call_id).where(
        OutboxDelivery.connector_id == connector_id, OutboxDelivery.external_id.in_(wanted)
    )
    return {
        external_id: call_id
        for external_id, call_id in (await db.execute(query)).all()
        # A form lead's record ties no deal to a call (deals of form leads are not kept yet).
        if external_id and call_id is not None
    }


# --- deals ---------------------------------------------------------------------------------


async def deal_by_external_id(
    db: AsyncSession, *, site_id: uuid.UUID, external_id: str
) -> Deal | None:
    query = (
        select(Deal)
        .where(Deal.site_id == site_id, Deal.external_id == external_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await db.execute(query)).scalar_one_or_none()


async def insert_deal(db: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert unless the site has this external id already (a webhook and a poll racing)."""
    table = Deal.__table__
    statement = (
        dialect.insert_on_conflict(db, table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["site_id", "external_id"])
        .returning(table.c.id)
    )
    return (await db.execute(statement)).scalar_one_or_none() is not None


async def delete_deal(db: AsyncSession, deal: Deal) -> None:
    await db.delete(deal)
    await db.flush()


async def deals(
    db: AsyncSession, *, site_id: uuid.UUID, call_id: uuid.UUID | None, limit: int
) -> list[Deal]:
    query = (
        select(Deal)
        .where(Deal.site_id == site_id)
        .order_by(Deal.updated_at.desc(), Deal.id)
        .limit(limit)
    )
    if call_id is not None:
        query = query.where(Deal.call_id == call_id)
    return list((await db.execute(query)).scalars())


async def latest_call_from(db: AsyncSession, *, site_id: uuid.UUID, caller: str) -> Call | None:
    query = (
        select(Call)
        .where(Call.site_id == site_id, Call.caller == caller)
        .order_by(Call.started_at.desc(), Call.id)
        .limit(1)
    )
    return (await db.execute(query)).scalar_one_or_none()


# --- the deals poll ------------------------------------------------------------------------
# The poll's own bookkeeping on the connector row: no snapshot holds it, so these writes note
# no configuration change.


async def connectors_due_for_poll(
    db: AsyncSession, *, kinds: Iterable[str], now: datetime
) -> list[CrmConnector]:
    query = (
        select(CrmConnector)
        .where(
            CrmConnector.kind.in_(set(kinds)),
            CrmConnector.retired_at.is_(None),
            or_(CrmConnector.deals_poll_at.is_(None), CrmConnector.deals_poll_at <= now),
        )
        .order_by(CrmConnector.deals_poll_at, CrmConnector.id)
    )
    return list((await db.execute(query)).scalars())


async def claim_poll(
    db: AsyncSession, *, connector_id: uuid.UUID, seen: datetime | None, next_at: datetime
) -> bool:
    """Move the connector's next poll forward if nobody has since: one worker wins."""
    condition = (
        CrmConnector.deals_poll_at.is_(None) if seen is None else CrmConnector.deals_poll_at == seen
    )
    statement = (
        update(CrmConnector)
        .where(CrmConnector.id == connector_id, condition)
        .values(deals_poll_at=next_at)
        .execution_options(synchronize_session=False)
    )
    result = await db.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


async def set_poll(db: AsyncSession, *, connector_id: uuid.UUID, **values: datetime | None) -> None:
    statement = (
        update(CrmConnector)
        .where(CrmConnector.id == connector_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    await db.execute(statement)
