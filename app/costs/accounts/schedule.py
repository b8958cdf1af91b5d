"""The daily import: a step of `callsource worker`'s round (handed in by app.cli / app.main).

Each live account is due once a day; it is claimed by moving its `next_import_at` a little
forward (so several workers import it once, and a worker stopped mid-import leaves it to the
next), imported outside any transaction (a Yandex report can take minutes to build), and
stored in a short transaction that makes it due again tomorrow. An account the platform was
busy for is tried again sooner; one it refused waits for the next day, its status saying why.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.costs.accounts import repository, service
from app.costs.accounts.platforms.base import AccountData, ImportFailed, PlatformBusy, PlatformHttp
from app.models import AdAccount, Site

log = logging.getLogger(__name__)

# The worker waits longer than a request for a report being built.
WORKER_WAIT_S = 600.0
BUSY_RETRY = timedelta(minutes=15)
# A claim holds the account this long: past the longest wait, so a worker stopped or killed
# mid-import leaves it to the next round after that, not to tomorrow.
CLAIM_HOLD = timedelta(minutes=30)


async def import_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    now: datetime,
    sleep: Callable[[float], Awaitable[None]],
) -> int:
    """Import the last week of every account due; the number of cost rows stored."""
    claimed: list[tuple[uuid.UUID, AccountData, date, date]] = []
    async with sessionmaker() as db:
        for due in await repository.due_for_import(db, now=now):
            site = await db.get(Site, due.site_id)
            if site is None or site.retired_at is not None:
                continue
            if await repository.claim_import(
                db,
                account_id=due.id,
                seen=due.next_import_at,
                next_at=now + CLAIM_HOLD,
            ):
                first, last = service.recent_days(site, now=now)
                claimed.append((due.id, service.account_data(due), first, last))
        await db.commit()
    stored = 0
    for account_id, data, first, last in claimed:
        http = PlatformHttp(client=client, sleep=sleep, max_wait_s=WORKER_WAIT_S)
        try:
            fetched = await service.fetch_spend(http, data, first_day=first, last_day=last, now=now)
        except ImportFailed as failure:
            log.info("ad account %s (%s): import failed: %s", account_id, data.kind, failure.detail)
            async with sessionmaker() as db:
                account = await db.get(AdAccount, account_id)
                if account is not None:
                    await service.record_failure(db, account, failure, now=now)
                    # Refused: tomorrow (the status asks the user to fix it); busy: soon.
                    account.next_import_at = now + service.IMPORT_INTERVAL
                    if isinstance(failure, PlatformBusy):
                        wait = max(timedelta(seconds=failure.retry_after_s), BUSY_RETRY)
                        account.next_import_at = now + wait
                    await db.commit()
            continue
        async with sessionmaker() as db:
            account = await db.get(AdAccount, account_id)
            if account is None or account.retired_at is not None:
                continue
            result = await service.store_import(
                db, account, fetched, first_day=first, last_day=last, now=now
            )
            account.next_import_at = now + service.IMPORT_INTERVAL
            await db.commit()
        stored += result.rows
    return stored
