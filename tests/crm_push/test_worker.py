"""The worker's guarantees: a worker killed mid-batch loses and duplicates nothing, two workers
share one PostgreSQL outbox, secrets never reach logs or the delivery log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace

import httpx
import pytest
from httpx import AsyncClient
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db import create_engine, create_sessionmaker
from app.models import Call, DeliveryAttempt
from crm_push.dispatch import CALL_GONE, INTERRUPTED
from crm_push.worker import Worker
from tests.clock import ManualClock
from tests.crm_push.conftest import TEST_CONFIG, World, make_worker, outbox, run_until_settled
from tests.crm_push.fake_crm import AMO_TOKEN, BITRIX_APP_TOKEN, BITRIX_SECRET, FakeCrmServer


async def test_a_worker_killed_mid_batch_leaves_each_call_in_the_crm_once(
    world: World,
    crm: FakeCrmServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    clock: ManualClock,
) -> None:
    await world.amocrm(crm)
    crm.crm.hang_s = 1.0  # the CRM creates the lead, then the worker dies waiting
    crm.crm.fail("hang_after_create", times=3)
    for n in range(4):
        await world.call(caller=f"+7900222{n:04d}")
    slow = make_worker(sessionmaker, http, clock, config=replace(TEST_CONFIG, timeout_s=10))

    task = asyncio.create_task(slow.deliver_due())
    # Until the CRM has created three leads: a moment on a quiet machine, seconds on a busy one
    # (the cap only bounds a run that is broken).
    async with asyncio.timeout(60):
        while len(crm.crm.amo_unsorted) < 3:  # noqa: ASYNC110 - the stand-in has no event
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    # Another process, later: nothing is due while the dead worker's lease lasts.
    engine = create_engine(str(sessionmaker.kw["bind"].url.render_as_string(hide_password=False)))
    try:
        successor = make_worker(create_sessionmaker(engine), http, clock)
        assert await successor.drain() == 0
        clock.advance(seconds=TEST_CONFIG.lease_s + 1)
        await run_until_settled(successor, clock)
    finally:
        await engine.dispose()

    counts = crm.crm.records_by_key()
    assert len(counts) == 4
    assert set(counts.values()) == {1}
    rows = await outbox(sessionmaker)
    assert {r.status for r in rows} == {"sent"}
    async with sessionmaker() as db:
        interrupted = await db.scalar(
            select(func.count()).where(DeliveryAttempt.response_excerpt == INTERRUPTED)
        )
    assert interrupted == 3


@pytest.mark.only_on("postgresql")
async def test_two_workers_share_one_postgresql_outbox(
    world: World,
    crm: FakeCrmServer,
    engine: AsyncEngine,
    http: httpx.AsyncClient,
    clock: ManualClock,
) -> None:
    await world.webhook(crm)
    for n in range(24):
        await world.call(caller=f"+7900111{n:04d}")
    crm.crm.hang_s = 0.02
    crm.crm.fail("hang_after_create", times=24)  # slow enough for the workers to overlap
    config = replace(TEST_CONFIG, batch_size=4, concurrency=4)
    url = engine.url.render_as_string(hide_password=False)
    engines = [create_engine(url), create_engine(url)]
    try:
        workers = [make_worker(create_sessionmaker(e), http, clock, config=config) for e in engines]
        done = await asyncio.gather(*(w.drain() for w in workers))
    finally:
        for e in engines:
            await e.dispose()

    assert sum(done) == 24
    assert min(done) > 0
    assert set(crm.crm.records_by_key().values()) == {1}
    assert len(crm.crm.webhook_posts) == 24  # no delivery was sent by both
    assert {(r.status, r.attempts) for r in await outbox(world.sessionmaker)} == {("sent", 1)}


async def test_secrets_never_reach_logs_or_the_delivery_log(
    world: World,
    crm: FakeCrmServer,
    worker: Worker,
    clock: ManualClock,
    client: AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Everything at INFO, and the HTTP client and crm_push at DEBUG. (The SQLite driver's own
    # DEBUG output echoes statement parameters, connectors' credentials among them: it must
    # stay off in production, as it is by default.)
    caplog.set_level(logging.INFO)
    for name in ("crm_push", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    amo = await world.amocrm(crm)
    bitrix = await world.bitrix24(crm)
    hook = await world.webhook(crm)
    await world.call()
    crm.crm.fail("echo", times=3)  # an error page that echoes our credentials back
    crm.crm.fail("500", times=3)

    await run_until_settled(worker, clock)
    await crm.stop()
    await world.call()
    await worker.drain()

    site = world.site["id"]
    listings = [
        (await client.get(f"/api/v1/sites/{site}/crm/{c['id']}/deliveries")).text
        for c in (amo, bitrix, hook)
    ]
    async with world.sessionmaker() as db:
        excerpts = list((await db.execute(select(DeliveryAttempt.response_excerpt))).scalars())
    details = [
        (await client.get(f"/api/v1/sites/{site}/crm/{c['id']}/deliveries/{d.id}")).text
        for c in (amo, bitrix, hook)
        for d in await outbox(world.sessionmaker)
        if str(d.connector_id) == c["id"]
    ]
    secret_key = hook["secret"].removeprefix("whsec_")
    everything = "\n".join([caplog.text, *listings, *details, *map(str, excerpts)])
    assert "[redacted]" in everything  # the echo was seen, and scrubbed
    for secret in (AMO_TOKEN, BITRIX_SECRET, BITRIX_APP_TOKEN, secret_key):
        assert secret not in everything
    assert any(r.name == "httpx" for r in caplog.records)  # its request lines were checked too


async def test_a_delivery_dies_after_its_last_attempt_and_can_be_retried(
    world: World,
    crm: FakeCrmServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    clock: ManualClock,
    client: AsyncClient,
) -> None:
    connector = await world.amocrm(crm)
    call = await world.call()
    crm.crm.fail("500", times=3)
    short = replace(TEST_CONFIG, retry=replace(TEST_CONFIG.retry, max_attempts=3))
    worker = make_worker(sessionmaker, http, clock, config=short)
    base = f"/api/v1/sites/{world.site['id']}/crm/{connector['id']}/deliveries"

    await run_until_settled(worker, clock)

    [dead] = (await client.get(base, params={"status": "dead"})).json()["items"]
    assert (dead["call_id"], dead["attempts"]) == (str(call.id), 3)
    assert dead["last_error"].startswith("HTTP 500")
    assert dead["next_attempt_at"] is None
    assert (await client.get(base, params={"status": "pending"})).json()["items"] == []
    detail = (await client.get(f"{base}/{dead['id']}")).json()
    assert [a["outcome"] for a in detail["log"]] == ["dead", "retry", "retry"]
    assert {a["status_code"] for a in detail["log"]} == {500}

    retried = await client.post(f"{base}/{dead['id']}/retry")
    assert retried.status_code == 200
    assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 0)
    await worker.drain()
    [sent] = (await client.get(base, params={"status": "sent"})).json()["items"]
    assert sent["external_id"].startswith("lead:")
    assert (await client.post(f"{base}/{dead['id']}/retry")).status_code == 409
    assert (await client.get(base, params={"status": "lost"})).status_code == 422
    assert (await client.post(f"{base}/{connector['id']}/retry")).status_code == 404


async def test_a_delivery_whose_call_was_detached_goes_to_the_dead_letters_alone(
    world: World,
    crm: FakeCrmServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    clock: ManualClock,
    client: AsyncClient,
) -> None:
    """No foreign key holds a delivery's call any more (calls are partitioned by month): a
    call gone with its month must not stall the batches of every other call."""
    connector = await world.webhook(crm)
    gone = await world.call()
    kept = await world.call(caller="+79005556677")
    async with sessionmaker() as db:
        # As `callsource partitions detach` leaves it: the call out of `calls`, its
        # deliveries still pending.
        await db.execute(delete(Call).where(Call.id == gone.id))
        await db.commit()
    worker = make_worker(sessionmaker, http, clock)

    await run_until_settled(worker, clock)

    base = f"/api/v1/sites/{world.site['id']}/crm/{connector['id']}/deliveries"
    dead = (await client.get(base, params={"status": "dead"})).json()["items"]
    assert {d["call_id"] for d in dead} == {str(gone.id)}
    assert all(d["last_error"] == CALL_GONE for d in dead)
    sent = (await client.get(base, params={"status": "sent"})).json()["items"]
    assert {d["call_id"] for d in sent} == {str(kept.id)}
