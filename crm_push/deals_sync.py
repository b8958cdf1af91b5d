"""Deal outcomes read from the CRMs: the poll (a safety net for webhooks amoCRM and Bitrix24
send once and never again) and the read-back behind each outcome webhook."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from crm_push import deals, repository
from crm_push.connectors import DEAL_SOURCES
from crm_push.connectors.base import ConnectorData, CrmDeal
from crm_push.transport import CrmFailure, CrmHttp, RateDeferred

if TYPE_CHECKING:
    from crm_push.worker import Worker

log = logging.getLogger(__name__)


async def poll_due(worker: Worker) -> int:
    now = worker.clock()
    interval = timedelta(seconds=worker.config.deals_poll_interval_s)
    claimed: list[tuple[ConnectorData, datetime | None]] = []
    async with worker.sessionmaker() as db:
        for row in await repository.connectors_due_for_poll(db, kinds=DEAL_SOURCES, now=now):
            if await repository.claim_poll(
                db, connector_id=row.id, seen=row.deals_poll_at, next_at=now + interval
            ):
                claimed.append((ConnectorData.of(row), row.deals_cursor))
        await db.commit()
    stored = 0
    for connector, cursor in claimed:
        stored += await _poll(worker, connector, cursor=cursor, started=now)
    return stored


async def _poll(
    worker: Worker, connector: ConnectorData, *, cursor: datetime | None, started: datetime
) -> int:
    # Leads older than the connector did not come from us: start there on the first poll.
    since = (cursor or connector.created_at) - timedelta(seconds=worker.config.deals_overlap_s)
    crm = worker.crm_http(connector.kind, connector.id.hex, connector.credentials, deadline=None)
    try:
        changed = await DEAL_SOURCES[connector.kind].changed_deals(crm, connector, since=since)
    except (CrmFailure, RateDeferred) as exc:
        # The cursor stays: the next poll reads this window again.
        log.warning("deals poll of %s connector %s failed: %s", connector.kind, connector.id, exc)
        return 0
    async with worker.sessionmaker() as db:
        stored = await deals.record_crm_deals(
            db, connector=connector, deals=changed, now=worker.clock()
        )
        await repository.set_poll(db, connector_id=connector.id, deals_cursor=started)
        await db.commit()
    return stored


async def read_back(
    crm: CrmHttp, connector: ConnectorData, deal_ids: Sequence[str]
) -> tuple[list[CrmDeal], bool]:
    """The deals a webhook named, read through the API (amoCRM's webhooks are unsigned, and
    Bitrix24's carry only the id). Also says whether any read failed."""
    found: list[CrmDeal] = []
    failed = False
    source = DEAL_SOURCES[connector.kind]
    for deal_id in deal_ids:
        try:
            deal = await source.fetch_deal(crm, connector, deal_id)
        except (CrmFailure, RateDeferred) as exc:
            log.warning("reading deal %s from connector %s failed: %s", deal_id, connector.id, exc)
            failed = True
            continue
        if deal is not None:
            found.append(deal)
    return found, failed
