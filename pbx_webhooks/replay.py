"""`callsource pbx replay`: fold the stored PBX events whose processing failed into their calls.

Every verified webhook is stored raw before it is processed (see pbx_webhooks.inbox), so a bug
in a mapping or a merge, or a database outage between the two steps, leaves the event waiting
with `processed_at` unset. A replay reads each such body again through its integration's
provider and folds it in through the path a live event takes (`inbox.process`): idempotent, in
received order, one transaction per event, so one bad event does not hold back the others.

Events of retired integrations are replayed too: they arrived, and were acknowledged, while the
integration was live, so their calls are as real as any other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.calls.events import CallEvent
from app.exceptions import AppError, NotFound
from app.kit.text import storable
from app.models import PbxEvent, PbxIntegration
from app.outages import is_database_outage
from pbx_webhooks import inbox, repository
from pbx_webhooks.events import InboundRequest, check_times
from pbx_webhooks.integrations import Hook, load
from pbx_webhooks.providers import get_provider

MAX_REPORTED_ERRORS = 100


@dataclass
class ReplayReport:
    replayed: int = 0
    failures: dict[uuid.UUID, str] = field(default_factory=dict)  # event id -> its error now

    def summary(self, limit: int = MAX_REPORTED_ERRORS) -> dict[str, object]:
        """The JSON the command prints; the error list is bounded, the count is not."""
        return {
            "replayed": self.replayed,
            "failed": len(self.failures),
            "errors": [
                {"event_id": str(event_id), "error": error}
                for event_id, error in list(self.failures.items())[:limit]
            ],
        }


class _Refused(Exception):
    """The stored body cannot be turned into the event again; the message says why."""


async def replay_failed_events(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    since: datetime | None = None,
    integration_id: uuid.UUID | None = None,
) -> ReplayReport:
    """Replay the unprocessed events received at or after `since`, of one integration or all.

    NotFound when `integration_id` names no integration (a typo must not replay nothing
    silently).
    """
    if integration_id is not None:
        async with sessionmaker() as db:
            if await db.get(PbxIntegration, integration_id) is None:
                raise NotFound(f"no PBX integration {integration_id}")
    report = ReplayReport()
    hooks: dict[uuid.UUID, Hook] = {}
    # First the requests no provider could read: those that read now become their events,
    # stored as if they had arrived so, and are replayed with the others, in received order.
    for event_id in await _pending(sessionmaker, since, integration_id):
        await _expand_rejected(sessionmaker, event_id, hooks, report, now=now)
    for event_id in await _pending(sessionmaker, since, integration_id):
        if event_id not in report.failures:
            await _replay_one(sessionmaker, event_id, hooks, report, now=now)
    return report


async def _pending(
    sessionmaker: async_sessionmaker[AsyncSession],
    since: datetime | None,
    integration_id: uuid.UUID | None,
) -> list[uuid.UUID]:
    async with sessionmaker() as db:
        return await repository.unprocessed_event_ids(
            db, since=since, integration_id=integration_id
        )


async def _unprocessed(db: AsyncSession, event_id: uuid.UUID, *, rejected: bool) -> PbxEvent | None:
    """The stored event if it still waits for processing and is (or is not) a refused body."""
    stored = await db.get(PbxEvent, event_id)
    if stored is None or stored.processed_at is not None:
        return None
    if stored.dedup_key.startswith(inbox.REJECTED_PREFIX) != rejected:
        return None
    return stored


async def _expand_rejected(
    sessionmaker: async_sessionmaker[AsyncSession],
    event_id: uuid.UUID,
    hooks: dict[uuid.UUID, Hook],
    report: ReplayReport,
    *,
    now: datetime,
) -> None:
    async with sessionmaker() as db:
        stored = await _unprocessed(db, event_id, rejected=True)
        if stored is None:
            return
        hook = await _hook(db, hooks, stored.integration_id)
        request = _request(stored)
        try:
            events = _read(hook, request, received_at=stored.received_at)
        except _Refused as exc:
            await _still_failing(db, report, event_id, str(exc))
            return
        await inbox.store_readable(
            db,
            rejected_id=event_id,
            hook=hook,
            request=request,
            events=events,
            received_at=stored.received_at,
            now=now,
        )
        await db.commit()


async def _replay_one(
    sessionmaker: async_sessionmaker[AsyncSession],
    event_id: uuid.UUID,
    hooks: dict[uuid.UUID, Hook],
    report: ReplayReport,
    *,
    now: datetime,
) -> None:
    async with sessionmaker() as db:
        # None: a PBX retry or another replay got there first, or it arrived since the first pass.
        stored = await _unprocessed(db, event_id, rejected=False)
        if stored is None:
            return
        hook = await _hook(db, hooks, stored.integration_id)
        try:
            event = _stored_event(hook, stored)
        except _Refused as exc:
            await _still_failing(db, report, event_id, str(exc))
            return
    error = await inbox.process(sessionmaker, event_id=event_id, hook=hook, event=event, now=now)
    if error is None:
        report.replayed += 1
    else:
        report.failures[event_id] = error


async def _hook(db: AsyncSession, hooks: dict[uuid.UUID, Hook], integration_id: uuid.UUID) -> Hook:
    if integration_id not in hooks:
        hook = await load(db, integration_id)
        assert hook is not None  # a foreign key
        hooks[integration_id] = hook
    return hooks[integration_id]


def _request(stored: PbxEvent) -> InboundRequest:
    return InboundRequest(
        method="POST",
        # Providers read the URL and the query only to check a signature, and a replay checks
        # none: the signature was checked when the event arrived (it is not kept).
        url=f"/hooks/pbx/{stored.integration_id}",
        subpath=stored.subpath,
        query={},
        headers=dict(stored.headers),
        body=stored.body,
        content_type=stored.content_type,
    )


def _read(hook: Hook, request: InboundRequest, *, received_at: datetime) -> list[CallEvent]:
    """The request's events, judged as on arrival: its times against when it was received."""
    try:
        events = get_provider(hook.provider).parse(request, dict(hook.credentials), now=received_at)
        check_times(events, now=received_at)
    except AppError as exc:  # MalformedBody, MalformedEvent: the body is refused again
        raise _Refused(exc.detail) from exc
    except Exception as exc:
        if is_database_outage(exc):
            raise
        raise _Refused(repr(exc)) from exc
    return events


def _stored_event(hook: Hook, stored: PbxEvent) -> CallEvent:
    """The one event of the stored request this row holds (a request may carry several)."""
    events = _read(hook, _request(stored), received_at=stored.received_at)
    for event in events:
        if storable(event.dedup_key)[:300] == stored.dedup_key:
            return event
    raise _Refused(f"the stored body no longer yields the event {stored.dedup_key!r}")


async def _still_failing(
    db: AsyncSession, report: ReplayReport, event_id: uuid.UUID, error: str
) -> None:
    await repository.record_event_error(db, event_id, error)
    await db.commit()
    report.failures[event_id] = error[:2000]
