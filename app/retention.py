"""Deleting what a site keeps no longer: visits, calls and form leads older than its
`retention_months`, with everything that hangs off them (issue 19).

What goes, per site, for rows from before the cutoff (the first day of the month, in the site's
own calendar, `retention_months` before the current one):
- calls, with their keys, tags, notes, deals, raw PBX events and CRM deliveries (and their
  attempts);
- visits, with the lease log's and the fallbacks' rows of them; a newer call or form lead that
  came from such a visit keeps its own copy of the visit's source and loses only the link;
- form leads, with their CRM deliveries.
What stays: the reports' per-call credits and daily rollups, which hold no personal data, so a
report of a deleted month still shows its totals (until a change of the site's currency or time
zone rebuilds them from what is left). A kept call whose journey began before the cutoff keeps
its credits too; only if its deals change later are they computed again from the visits left.

The worker runs it in batches, each in its own transaction, a bounded number per round, so a
first run over years of data never holds the worker for long and keeps what it did if stopped.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import (
    Call,
    CallKey,
    CallNote,
    CallTag,
    Deal,
    DeliveryAttempt,
    FormLead,
    NumberAssignment,
    NumberFallback,
    OutboxDelivery,
    PbxEvent,
    Site,
    TrackingSession,
)

log = logging.getLogger(__name__)

BATCH = 500
BATCHES_PER_ROUND = 40


def cutoff(site_timezone: str, months: int, *, now: datetime) -> datetime:
    """The instant before which a site keeping `months` months deletes: the start of the
    local month `months` before the current one (12 on 2026-12-04 keeps 2025-12-01 on)."""
    zone = ZoneInfo(site_timezone)
    local = now.astimezone(zone).date()
    index = local.year * 12 + (local.month - 1) - months
    first = date(index // 12, index % 12 + 1, 1)
    return datetime.combine(first, time(), tzinfo=zone)


async def _deliveries_gone(db: AsyncSession, condition: Any) -> None:
    deliveries = select(OutboxDelivery.id).where(condition)
    await db.execute(delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(deliveries)))
    await db.execute(delete(OutboxDelivery).where(condition))


async def _calls_batch(db: AsyncSession, site_id: uuid.UUID, before: datetime) -> int:
    ids = list(
        await db.scalars(
            select(Call.id).where(Call.site_id == site_id, Call.started_at < before).limit(BATCH)
        )
    )
    if ids:
        await _deliveries_gone(db, OutboxDelivery.call_id.in_(ids))
        for table in (Deal, PbxEvent, CallTag, CallNote, CallKey):
            await db.execute(delete(table).where(table.call_id.in_(ids)))
        await db.execute(delete(Call).where(Call.id.in_(ids)))
    return len(ids)


async def _visits_batch(db: AsyncSession, site_id: uuid.UUID, before: datetime) -> int:
    s = TrackingSession
    ids = list(
        await db.scalars(
            select(s.id).where(s.site_id == site_id, s.started_at < before).limit(BATCH)
        )
    )
    if ids:
        for log_table in (NumberAssignment, NumberFallback):
            await db.execute(delete(log_table).where(log_table.session_id.in_(ids)))
        for lead_table in (Call, FormLead):
            await db.execute(
                update(lead_table).where(lead_table.session_id.in_(ids)).values(session_id=None)
            )
        await db.execute(delete(s).where(s.id.in_(ids)))
    return len(ids)


async def _form_leads_batch(db: AsyncSession, site_id: uuid.UUID, before: datetime) -> int:
    ids = list(
        await db.scalars(
            select(FormLead.id)
            .where(FormLead.site_id == site_id, FormLead.created_at < before)
            .limit(BATCH)
        )
    )
    if ids:
        await _deliveries_gone(db, OutboxDelivery.lead_id.in_(ids))
        await db.execute(delete(FormLead).where(FormLead.id.in_(ids)))
    return len(ids)


_BATCHES = (_calls_batch, _form_leads_batch, _visits_batch)


async def apply_retention(
    sessionmaker: async_sessionmaker[AsyncSession],
    _client: httpx.AsyncClient,
    now: datetime,
    _sleep: Callable[[float], Awaitable[None]],
) -> int:
    """The worker step: delete, in batches, what each site keeps no longer. Returns the rows
    (calls, form leads, visits) deleted this round."""
    async with sessionmaker() as db:
        sites = (
            await db.execute(
                select(Site.id, Site.timezone, Site.retention_months).where(
                    Site.retention_months > 0
                )
            )
        ).all()
    deleted, budget = 0, BATCHES_PER_ROUND
    for site_id, timezone, months in sites:
        before = cutoff(timezone, months, now=now)
        of_site = 0
        # Calls before visits: a call's deliveries and events go with it, then its visit.
        for batch in _BATCHES:
            while budget > 0:
                async with sessionmaker() as db, db.begin():
                    count = await batch(db, site_id, before)
                budget -= 1
                of_site += count
                if count < BATCH:
                    break
        deleted += of_site
        if of_site:
            log.info(
                "retention: %d rows of site %s from before %s deleted", deleted, site_id, before
            )
    return deleted
