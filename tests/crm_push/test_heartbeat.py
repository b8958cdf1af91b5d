"""The claim heartbeat: a claim lasts 24 s unless its worker renews it, so a worker that dies
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

LEASE_S = WorkerConfig().lease_s
LEASE = timedelta(seconds=LEASE_S)


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


async def test_a_dead_workers_claim_runs_out_within_30_s_and_a_live_one_renews_in_time() -> None:
    config = WorkerConfig()
    assert config.lease_s + config.idle_s < 30
    assert config.renew_s * 3 <= config.lease_s


async def test_a_claim_not_renewed_is_taken_by_another_worker_within_30_s(
    world: World,
    crm: FakeCrmServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: ManualClock,
) -> None:
    await world.webhook(crm)
    await world.call()
    first = await _claim(sessionmaker, clock)
    assert first

    clock.advance(seconds=LEASE_S - 1)
    assert await _claim(sessionmaker, clock) == []
    clock.advance(seconds=2)  # lease + 1 s after the claim: well within 30 s
    second = await _claim(sessionmaker, clock)
    assert {c.job.delivery_id for c in second} == {c.job.delivery_id for c in first}
    # The first worker's claim is gone: its renewal stops, and its outcome would not land.
    assert not await _renew(sessionmaker, clock, first[0])
    assert all([await _renew(sessionmaker, clock, c) for c in second])


async def test_a_renewed_claim_is_not_taken_until_its_lease_after_the_last_renewal(
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
    clock.advance(seconds=LEASE_S - 1)
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
    # Dead now: no more beats, and the row is another worker's when the lease runs out.
    clock.advance(seconds=LEASE_S + 1)
    assert await _claim(sessionmaker, clock)
    assert {r.status for r in await outbox(sessionmaker)} == {"pending"}
