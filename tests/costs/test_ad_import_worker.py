"""The daily import as a step of the worker's round, on the simulated clock: the last week of
every account once a day, a report being built waited for on the worker's clock, a busy
platform tried again sooner, and each day replaced rather than doubled."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.costs.accounts.schedule import import_due
from app.kit.outbound import OutboundPolicy, outbound_client
from app.models import AdAccount, AdCost
from crm_push.ratelimit import MemoryRateLimiter
from crm_push.worker import Worker
from tests.clock import ManualClock
from tests.costs.ad_platforms import YANDEX_TOKEN, FakeAdPlatforms, FakeAdPlatformsServer
from tests.factories import create_site


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"outbound_allow": "127.0.0.1"})


@pytest.fixture
async def platforms() -> AsyncIterator[tuple[FakeAdPlatforms, str]]:
    fake = FakeAdPlatforms()
    server = FakeAdPlatformsServer(fake)
    await server.start()
    try:
        yield fake, server.url
    finally:
        await server.stop()


@pytest.fixture
async def worker(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, clock: ManualClock
) -> AsyncIterator[Worker]:
    async def sleep_until(moment: datetime) -> None:
        clock.now = max(clock.now, moment)
        await asyncio.sleep(0)

    async with outbound_client(OutboundPolicy.parse(settings.outbound_allow)) as http:
        yield Worker(
            sessionmaker,
            http=http,
            limiter=MemoryRateLimiter(),
            clock=clock,
            sleep_until=sleep_until,
            rng=random.Random(7),
            steps=(import_due,),
        )


async def rows(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(AdCost)) or 0)


async def account_row(sessionmaker: async_sessionmaker[AsyncSession]) -> AdAccount:
    async with sessionmaker() as db:
        return (await db.execute(select(AdAccount))).scalar_one()


async def test_the_worker_imports_the_last_week_daily(
    client: AsyncClient,
    platforms: Any,
    worker: Worker,
    clock: ManualClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    fake, base = platforms
    fake.yandex_polls, fake.yandex_retry_in = 2, 30
    # The clock starts 2026-11-02 09:30 UTC, 12:30 in Moscow: the week is Oct 27 to Nov 2.
    fake.yandex_rows = [
        ("2026-10-26", "sofas", "--", "1"),  # eight days back: not in the week
        ("2026-10-27", "sofas", "диван", "100"),
        ("2026-11-02", "sofas", "--", "50"),
    ]
    site = await create_site(client)
    created = await client.post(
        f"/api/v1/sites/{site['id']}/ad-accounts",
        json={"kind": "yandex_direct", "token": YANDEX_TOKEN, "api_base": base},
    )
    assert created.status_code == 201, created.text
    started = clock.now

    await worker.drain()

    assert await rows(sessionmaker) == 2
    criteria = json.loads(fake.requests[0].body)["params"]["SelectionCriteria"]
    assert criteria == {"DateFrom": "2026-10-27", "DateTo": "2026-11-02"}
    # The report was waited for on the worker's clock: two retryIn of 30 s.
    assert clock.now - started == timedelta(seconds=60)
    account = await account_row(sessionmaker)
    assert (account.last_import_status, account.last_import_rows) == ("ok", 2)
    assert account.next_import_at == started + timedelta(hours=24)

    # Not due again until tomorrow.
    asked = len(fake.requests)
    await worker.drain()
    assert len(fake.requests) == asked

    # Tomorrow: the week moves on a day, the revised days replace what was stored.
    clock.advance(hours=24)
    fake.yandex_rows.append(("2026-11-03", "sofas", "--", "70"))
    await worker.drain()
    async with sessionmaker() as db:
        days = (await db.execute(select(AdCost.day, AdCost.cost).order_by(AdCost.day))).all()
    assert [(str(d), float(c)) for d, c in days] == [
        ("2026-10-27", 100.0),  # outside the new week: kept as it was
        ("2026-11-02", 50.0),
        ("2026-11-03", 70.0),
    ]


async def test_a_busy_platform_is_tried_again_sooner(
    client: AsyncClient,
    platforms: Any,
    worker: Worker,
    clock: ManualClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    fake, base = platforms
    fake.yandex_rows = [("2026-11-02", "sofas", "--", "50")]
    site = await create_site(client)
    await client.post(
        f"/api/v1/sites/{site['id']}/ad-accounts",
        json={"kind": "yandex_direct", "token": YANDEX_TOKEN, "api_base": base},
    )
    error = {
        "request_id": "1",
        "error_code": 9000,
        "error_string": "Report queue full",
        "error_detail": "5 reports",
    }
    fake.fail("yandex", 400, {"error": error})
    started = clock.now

    await worker.drain()

    account = await account_row(sessionmaker)
    assert account.last_import_status == "busy"
    assert "Report queue full" in (account.last_import_error or "")
    assert account.next_import_at == started + timedelta(minutes=15)
    assert await rows(sessionmaker) == 0

    clock.advance(minutes=15)
    await worker.drain()
    account = await account_row(sessionmaker)
    assert account.last_import_status == "ok"
    assert await rows(sessionmaker) == 1


async def test_a_refused_account_waits_for_tomorrow_and_others_go_on(
    client: AsyncClient,
    platforms: Any,
    worker: Worker,
    clock: ManualClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    fake, base = platforms
    fake.yandex_rows = [("2026-11-02", "sofas", "--", "50")]
    site = await create_site(client)
    for token in ("wrong-token", YANDEX_TOKEN):
        response = await client.post(
            f"/api/v1/sites/{site['id']}/ad-accounts",
            json={"kind": "yandex_direct", "token": token, "api_base": base},
        )
        assert response.status_code == 201
    await worker.drain()

    async with sessionmaker() as db:
        accounts = (await db.execute(select(AdAccount))).scalars().all()
    statuses = sorted((a.last_import_status or "") for a in accounts)
    assert statuses == ["failed", "ok"]
    failed = next(a for a in accounts if a.last_import_status == "failed")
    assert "Invalid OAuth token" in (failed.last_import_error or "")
    assert failed.next_import_at == clock.now + timedelta(hours=24)
    assert await rows(sessionmaker) == 1


async def test_an_import_cut_short_is_taken_up_after_the_claim_lapses(
    client: AsyncClient,
    platforms: Any,
    worker: Worker,
    clock: ManualClock,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    fake, base = platforms
    fake.yandex_polls, fake.yandex_retry_in = 1, 30
    fake.yandex_rows = [("2026-11-02", "sofas", "--", "50")]
    site = await create_site(client)
    await client.post(
        f"/api/v1/sites/{site['id']}/ad-accounts",
        json={"kind": "yandex_direct", "token": YANDEX_TOKEN, "api_base": base},
    )
    started = clock.now

    async def killed(seconds: float) -> None:
        raise RuntimeError("the worker was killed while the report was built")

    async with outbound_client(OutboundPolicy.parse(settings.outbound_allow)) as http:
        with pytest.raises(RuntimeError):
            await import_due(sessionmaker, http, clock.now, killed)
    account = await account_row(sessionmaker)
    assert account.next_import_at == started + timedelta(minutes=30)
    assert await rows(sessionmaker) == 0

    await worker.drain()  # still claimed by the dead worker
    assert await rows(sessionmaker) == 0
    clock.advance(minutes=30)
    await worker.drain()
    assert await rows(sessionmaker) == 1


async def test_the_running_worker_looks_for_due_accounts_every_half_minute(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, clock: ManualClock
) -> None:
    looked: list[datetime] = []

    async def step(*args: Any) -> int:
        looked.append(clock.now)
        return 0

    async with outbound_client(OutboundPolicy.parse(settings.outbound_allow)) as http:
        worker = Worker(
            sessionmaker, http=http, limiter=MemoryRateLimiter(), clock=clock, steps=(step,)
        )
        for _ in range(3):
            await worker.run_once()
            clock.advance(seconds=10)
        clock.advance(seconds=10)
        await worker.run_once()
        await worker.finish_steps()
    assert looked == [looked[0], looked[0] + timedelta(seconds=40)]
