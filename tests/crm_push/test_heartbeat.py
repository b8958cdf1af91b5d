"""The claim heartbeat: a claim lasts 30 s unless its worker renews it, so a worker that dies
mid-delivery leaves its rows to another within 30 s, while a live, slow delivery keeps them."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_push import dispatch
from crm_push.worker import WorkerConfig
from tests.clock import ManualClock
from tests.crm_push.conftest import TEST_CONFIG, World, make_worker, outbox
from tests.crm_push.fake_crm import FakeCrmServer

LEASE = timedelta(seconds=WorkerConfig().lease_s)


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession], clock: ManualClock
) -> list[dispatch.Claim]:
    async with sessionmaker() as db:
        claims = await dispatch.claim_due(db, now=clock(), limit=20, lease=LEASE)
        await db.commit()
    return claims


async def _renew(
    sessionmaker: async_sessionmaker[AsyncSession], clock: ManualClock, claim: dispatch.Claim
) -> bool:
    async with sessionmaker() as db:
        held = await dispatch.renew(db, claim, now=clock(), lease=LEASE)
        await db.commit()
    return held


async def test_the_claim_lease_is_thirty_seconds_renewed_every_ten() -> None:
    assert WorkerConfig().lease_s == 30.0
    assert WorkerConfig().renew_s == 10.0


async def test_a_claim_not_renewed_is_taken_by_another_worker_after_30_s(
    world: World,
    crm: FakeCrmServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: ManualClock,
) -> None:
    await world.webhook(crm)
    await world.call()
    first = await _claim(sessionmaker, clock)
    assert first

    clock.advance(seconds=29)
    assert await _claim(sessionmaker, clock) == []
    clock.advance(seconds=2)
    second = await _claim(sessionmaker, clock)
    assert {c.job.delivery_id for c in second} == {c.job.delivery_id for c in first}
    # The first worker's claim is gone: its renewal stops, and its outcome would not land.
    assert not await _renew(sessionmaker, clock, first[0])
    assert all([await _renew(sessionmaker, clock, c) for c in second])


async def test_a_renewed_claim_is_not_taken_until_30_s_after_its_last_renewal(
    world: World,
    crm: FakeCrmServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: ManualClock,
) -> None:
    await world.webhook(crm)
    await world.call()
    claims = await _claim(sessionmaker, clock)
    assert claims
    for _ in range(6):  # a minute of renewals every 10 s
        clock.advance(seconds=10)
        assert all([await _renew(sessionmaker, clock, c) for c in claims])
        assert await _claim(sessionmaker, clock) == []
    clock.advance(seconds=29)
    assert await _claim(sessionmaker, clock) == []
    clock.advance(seconds=2)
    assert {c.job.delivery_id for c in await _claim(sessionmaker, clock)} == {
        c.job.delivery_id for c in claims
    }


async def test_a_live_worker_renews_its_claim_while_the_crm_holds_the_request(
    world: World,
    crm: FakeCrmServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    clock: ManualClock,
) -> None:
    await world.webhook(crm)
    await world.call()
    crm.crm.hang_s = 3.0
    crm.crm.fail("hang_after_create", times=10)
    # Renew every 0.05 s of real time; the simulated clock jumps a minute meanwhile.
    config = replace(TEST_CONFIG, timeout_s=10, renew_s=0.05)
    slow = make_worker(sessionmaker, http, clock, config=config)
    task = asyncio.create_task(slow.deliver_due())
    try:
        for _ in range(500):
            if crm.crm.webhook_posts:
                break
            await asyncio.sleep(0.01)
        assert crm.crm.webhook_posts
        for _ in range(6):
            clock.advance(seconds=10)
            await asyncio.sleep(0.2)  # a few beats
            assert await _claim(sessionmaker, clock) == []
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # Dead now: no more beats, and the row is another worker's 30 s later.
    clock.advance(seconds=31)
    assert await _claim(sessionmaker, clock)
    assert {r.status for r in await outbox(sessionmaker)} == {"pending"}
