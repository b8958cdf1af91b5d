"""The raw-event store: every verified webhook kept exactly once, then folded into its call.

Two steps: the raw event is committed first (one INSERT, on its own), so a bug in processing never
loses a genuine event (it stays with its error, ready to be replayed). A repeat of an event that
is stored but was never folded in (the database went away between the two steps, and the PBX got
no 2xx) is folded in then: the PBX's retry is the replay.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.calls import service as calls_service
from app.calls.events import CallEvent
from app.kit import dialect
from app.kit.text import storable
from app.models import PbxEvent
from app.outages import is_database_outage
from pbx_webhooks.events import InboundRequest
from pbx_webhooks.integrations import Hook

log = logging.getLogger(__name__)
_KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "telnyx-timestamp",
)


# The dedup key of a stored request no provider could read (its events were never known).
REJECTED_PREFIX = "rejected:"


def _headers(request: InboundRequest) -> dict[str, str]:
    # Signatures are not kept: they are only good for the moment they were checked.
    return {k: v for k, v in request.headers.items() if k in _KEPT_HEADERS}


# Every event goes through these: built once, as plain table statements (building them per
# event cost more than running them).
_EVENTS = cast(Table, PbxEvent.__table__)
_INSERT = dialect.PerDialect(
    lambda insert_into: (
        insert_into(_EVENTS)
        .on_conflict_do_nothing(index_elements=["integration_id", "dedup_key"])
        .returning(_EVENTS.c.id)
    )
)
_UNPROCESSED = select(_EVENTS.c.id).where(
    _EVENTS.c.integration_id == bindparam("b_integration"),
    _EVENTS.c.dedup_key == bindparam("b_key"),
    _EVENTS.c.processed_at.is_(None),
)
_PROCESSED = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("b_id"))
    .values(processed_at=bindparam("b_at"), call_id=bindparam("b_call"), error=None)
)


async def _insert(connection: AsyncConnection, values: dict[str, object]) -> bool:
    """Insert unless this (integration, dedup key) is already stored; True if inserted."""
    statement = _INSERT.on(connection)
    return (await connection.execute(statement, values)).scalar_one_or_none() is not None


async def _stored_unprocessed(
    connection: AsyncConnection, values: dict[str, object]
) -> uuid.UUID | None:
    """The id of the stored copy of a repeated event if it was never folded into its call."""
    params = {"b_integration": values["integration_id"], "b_key": values["dedup_key"]}
    found: uuid.UUID | None = (await connection.execute(_UNPROCESSED, params)).scalar_one_or_none()
    return found


@asynccontextmanager
async def _autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Each raw event is one INSERT, atomic by itself: committed as it runs, it needs no
    BEGIN and COMMIT round trips around it."""
    async with engine.connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")


def _values(
    hook: Hook, request: InboundRequest, *, dedup_key: str, now: datetime
) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "integration_id": hook.integration_id,
        # Outsiders' text (a path, a header): made storable so the raw event is never lost.
        "dedup_key": storable(dedup_key)[:300],
        "subpath": storable(request.subpath)[:100],
        "content_type": storable(request.content_type)[:100],
        "body": request.body,
        "headers": _headers(request),
        "received_at": now,
        "processed_at": None,
        "error": None,
        "call_id": None,
        "provider_call_id": None,
    }


async def store_rejected(
    engine: AsyncEngine,
    hook: Hook,
    request: InboundRequest,
    *,
    error: str,
    now: datetime,
) -> None:
    """A genuine (signed) request we could not read: kept with its error for a later replay."""
    digest = hashlib.sha256(request.subpath.encode() + b"\0" + request.body).hexdigest()
    values = _values(hook, request, dedup_key=f"{REJECTED_PREFIX}{digest}", now=now)
    values["error"] = error[:2000]
    async with _autocommit(engine) as connection:
        await _insert(connection, values)


async def receive(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    hook: Hook,
    request: InboundRequest,
    events: list[CallEvent],
    now: datetime,
) -> tuple[int, int]:
    """Store the events once each and fold the new ones into their calls: (new, repeated)."""
    fresh: list[tuple[uuid.UUID, CallEvent]] = []
    to_process: list[tuple[uuid.UUID, CallEvent]] = []
    async with _autocommit(engine) as connection:
        for event in events:
            values = _values(hook, request, dedup_key=event.dedup_key, now=now)
            values["provider_call_id"] = event.provider_call_id[:200]
            if await _insert(connection, values):
                fresh.append((uuid.UUID(str(values["id"])), event))
            elif (waiting := await _stored_unprocessed(connection, values)) is not None:
                # Folding an event in twice is harmless (merges are idempotent, the outbox
                # keeps one row per call and event), so a repeat racing the first copy's
                # processing may fold it in too.
                to_process.append((waiting, event))
        if not events:
            # A genuine notification we deliberately ignore (an outbound leg, a hold): kept too.
            digest = hashlib.sha256(request.body).hexdigest()
            values = _values(hook, request, dedup_key=f"ignored:{digest}", now=now)
            values["processed_at"] = now
            await _insert(connection, values)
    for event_id, event in [*fresh, *to_process]:
        await process(
            sessionmaker,
            event_id=event_id,
            hook=hook,
            event=event,
            now=now,
        )
    return len(fresh), len(events) - len(fresh)


async def process(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    event_id: uuid.UUID,
    hook: Hook,
    event: CallEvent,
    now: datetime,
) -> str | None:
    """Fold one stored event into its call, in a transaction of its own: None when it is done,
    else the error it is now stored with."""
    try:
        async with sessionmaker() as db:
            call_id = await calls_service.record_event(
                db,
                integration_id=hook.integration_id,
                site_id=hook.site_id,
                country=hook.country,
                event=event,
                now=now,
                connectors=hook.connectors,
            )
            connection = await db.connection()
            await connection.execute(_PROCESSED, {"b_id": event_id, "b_at": now, "b_call": call_id})
            await db.commit()
        return None
    except Exception as exc:
        if is_database_outage(exc):
            # The database went away after the event was stored: no error can be written
            # either. The PBX is answered 503 and retries; the stored event, still
            # unprocessed, waits for `callsource pbx replay`.
            raise
        # Our failure, not the PBX's: the event is stored and answered 200; it waits, with its
        # error, for a replay once the cause is fixed.
        log.exception("processing PBX event %s failed", event_id)
        error = repr(exc)[:2000]
        async with sessionmaker() as db:
            await db.execute(update(PbxEvent).where(PbxEvent.id == event_id).values(error=error))
            await db.commit()
        return error


async def store_readable(
    db: AsyncSession,
    *,
    rejected_id: uuid.UUID,
    hook: Hook,
    request: InboundRequest,
    events: list[CallEvent],
    received_at: datetime,
    now: datetime,
) -> None:
    """A once-rejected request that now reads (its mapping was fixed): its events are stored
    as if they had arrived with it, unprocessed, and the rejected copy is done with.

    In the caller's transaction, so the request is never both pending and expanded.
    """
    connection = await db.connection()
    for event in events:
        values = _values(hook, request, dedup_key=event.dedup_key, now=received_at)
        values["provider_call_id"] = event.provider_call_id[:200]
        # An event the PBX already redelivered in a readable form is stored once.
        await _insert(connection, values)
    await connection.execute(_PROCESSED, {"b_id": rejected_id, "b_at": now, "b_call": None})
