"""The service on both databases and stores: the log it writes, fallbacks, who held a number."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import NumberAssignment, NumberFallback, TrackingSession
from numberpool import service
from numberpool.embedded_store import EmbeddedStore
from numberpool.redis_store import RedisStore
from numberpool.rules import fresh_records
from numberpool.service import ServedNumber
from numberpool.store import PoolStore
from tests.numberpool.conftest import T0, PoolSetup, create_pool, create_session


async def lease(
    db: AsyncSession,
    store: PoolStore,
    setup: PoolSetup,
    session: TrackingSession,
    *,
    seconds: float = 0,
    medium: str | None = None,
    campaign: str | None = None,
) -> ServedNumber:
    return await service.lease_for_session(
        db,
        store,
        pool=setup.pool,
        session_id=session.id,
        visitor_id=session.visitor_id,
        source=session.source,
        medium=medium if medium is not None else session.medium,
        campaign=campaign,
        now=T0 + timedelta(seconds=seconds),
    )


async def ping(
    db: AsyncSession,
    store: PoolStore,
    setup: PoolSetup,
    session: TrackingSession,
    *,
    seconds: float,
) -> ServedNumber:
    return await service.ping_session(
        db,
        store,
        pool=setup.pool,
        session_id=session.id,
        visitor_id=session.visitor_id,
        source=session.source,
        medium=session.medium,
        campaign=None,
        now=T0 + timedelta(seconds=seconds),
    )


async def assignments(db: AsyncSession, setup: PoolSetup) -> list[NumberAssignment]:
    query = select(NumberAssignment).where(NumberAssignment.pool_id == setup.pool.id)
    rows = (await db.execute(query.order_by(NumberAssignment.started_at))).scalars().all()
    return list(rows)


async def fallbacks(db: AsyncSession, setup: PoolSetup) -> list[NumberFallback]:
    query = select(NumberFallback).where(NumberFallback.pool_id == setup.pool.id)
    return list((await db.execute(query.order_by(NumberFallback.served_at))).scalars().all())


async def test_a_session_gets_a_dynamic_number_and_the_log_records_it(
    db: AsyncSession, store: PoolStore
) -> None:
    setup = await create_pool(db, numbers=2)
    visit = await create_session(db, setup)
    served = await lease(db, store, setup, visit)
    assert served.kind == "dynamic"
    assert served.number == setup.e164(served.tracking_number_id)
    [row] = await assignments(db, setup)
    assert (row.session_id, row.visitor_id, row.tracking_number_id) == (
        visit.id,
        visit.visitor_id,
        served.tracking_number_id,
    )
    assert (row.generation, row.started_at, row.ended_at) == (1, T0, None)
    # Asking again in the same visit changes nothing.
    assert await lease(db, store, setup, visit, seconds=5) == served
    assert len(await assignments(db, setup)) == 1


async def test_an_exhausted_pool_falls_back_to_the_source_number_then_the_target(
    db: AsyncSession, store: PoolStore
) -> None:
    setup = await create_pool(
        db,
        numbers=1,
        source_rules=[("Google", None, None), ("google", "cpc", None), ("yandex", None, "spring")],
    )
    first = await lease(db, store, setup, await create_session(db, setup))
    assert first.kind == "dynamic"
    organic = await lease(db, store, setup, await create_session(db, setup, medium="organic"))
    assert (organic.kind, organic.tracking_number_id) == ("source", setup.sources[0].id)
    cpc = await lease(db, store, setup, await create_session(db, setup, medium="cpc"))
    assert (cpc.kind, cpc.tracking_number_id) == ("source", setup.sources[1].id)
    yandex = await create_session(db, setup, source="yandex")
    spring = await lease(db, store, setup, yandex, campaign="spring")
    assert (spring.kind, spring.number) == ("source", setup.sources[2].number)
    other = await lease(db, store, setup, await create_session(db, setup, source="yandex"))
    assert (other.kind, other.number, other.tracking_number_id) == (
        "target",
        setup.target.number,
        None,
    )
    rows = await fallbacks(db, setup)
    assert [(r.kind, r.reason) for r in rows] == [("source", "exhausted")] * 3 + [
        ("target", "exhausted")
    ]


async def test_pings_keep_the_number_and_max_lease_hands_over_a_new_one(
    db: AsyncSession, store: PoolStore
) -> None:
    setup = await create_pool(db, numbers=2, idle_timeout_s=300, max_lease_s=1000)
    visit = await create_session(db, setup)
    first = await lease(db, store, setup, visit)
    for t in (250, 500, 750, 999):
        assert await ping(db, store, setup, visit, seconds=t) == first
    assert len(await assignments(db, setup)) == 1
    second = await ping(db, store, setup, visit, seconds=1000)
    assert second.kind == "dynamic"
    assert second.tracking_number_id != first.tracking_number_id
    old, new = await assignments(db, setup)
    assert old.ended_at == T0 + timedelta(seconds=1000)
    assert (new.started_at, new.ended_at) == (T0 + timedelta(seconds=1000), None)


async def test_a_session_that_found_the_pool_full_keeps_its_fallback(
    db: AsyncSession, store: PoolStore
) -> None:
    setup = await create_pool(db, numbers=1, idle_timeout_s=60, cooldown_s=60)
    await lease(db, store, setup, await create_session(db, setup))
    late = await create_session(db, setup)
    assert (await lease(db, store, setup, late)).kind == "target"
    # Long after the number is free again, the late session still sees what it saw.
    for t in (60, 600, 6000):
        assert (await ping(db, store, setup, late, seconds=t)).kind == "target"
    assert len(await fallbacks(db, setup)) == 1
    # A new session gets the number.
    fresh = await lease(db, store, setup, await create_session(db, setup), seconds=6000)
    assert fresh.kind == "dynamic"


async def test_release_closes_the_lease_and_the_number_rests(
    db: AsyncSession, store: PoolStore
) -> None:
    setup = await create_pool(db, numbers=1, cooldown_s=900)
    visit = await create_session(db, setup)
    served = await lease(db, store, setup, visit)
    await service.release_session(
        db, store, pool=setup.pool, session_id=visit.id, now=T0 + timedelta(seconds=30)
    )
    [row] = await assignments(db, setup)
    assert row.ended_at == T0 + timedelta(seconds=30)
    other = await lease(db, store, setup, await create_session(db, setup), seconds=929)
    assert other.kind == "target"
    again = await lease(db, store, setup, await create_session(db, setup), seconds=930)
    assert again == served


async def test_who_held_answers_from_the_log(db: AsyncSession, store: PoolStore) -> None:
    setup = await create_pool(db, numbers=1, idle_timeout_s=300, cooldown_s=900)
    first = await create_session(db, setup)
    served = await lease(db, store, setup, first)
    number = served.tracking_number_id
    assert number is not None

    async def holder(seconds: float) -> uuid.UUID | None:
        at = T0 + timedelta(seconds=seconds)
        held = await service.who_held(db, tracking_number_id=number, at=at)
        return None if held is None else held.lease.session_id

    assert await holder(-1) is None
    assert await holder(0) == first.id
    # Expired at 300 (closed by the next step), rests until 1200: calls still go to `first`.
    second = await create_session(db, setup)
    assert (await lease(db, store, setup, second, seconds=1199)).kind == "target"
    assert await holder(1200) == first.id
    assert await holder(1200.001) is None
    third = await create_session(db, setup)
    assert await lease(db, store, setup, third, seconds=1300) == served
    assert await holder(1250) is None
    assert await holder(1300) == third.id
    assert await holder(1599) == third.id  # still open in the log
    assert await holder(100_000) is None  # an open row ends by max_lease + cooldown at the latest


async def test_who_held_prefers_the_latest_lease_of_a_returning_visitor(
    db: AsyncSession, store: PoolStore
) -> None:
    setup = await create_pool(db, numbers=1, idle_timeout_s=300, cooldown_s=900)
    first = await create_session(db, setup)
    served = await lease(db, store, setup, first)
    assert served.tracking_number_id is not None
    again = await create_session(db, setup)
    again.visitor_id = first.visitor_id
    await db.flush()
    assert await lease(db, store, setup, again, seconds=600) == served
    at = T0 + timedelta(seconds=700)
    held = await service.who_held(db, tracking_number_id=served.tracking_number_id, at=at)
    assert held is not None
    assert (held.lease.session_id, held.lease.generation) == (again.id, 2)


async def test_a_lost_store_is_rebuilt_from_the_log_before_it_serves(
    db: AsyncSession, store: PoolStore
) -> None:
    setup = await create_pool(db, numbers=2, idle_timeout_s=300, cooldown_s=900)
    holders = [await create_session(db, setup) for _ in range(2)]
    served = [await lease(db, store, setup, visit) for visit in holders]
    await service.release_session(
        db, store, pool=setup.pool, session_id=holders[1].id, now=T0 + timedelta(seconds=10)
    )
    await db.commit()
    # The store forgets everything (a restart of the process, a flushed Redis).
    if isinstance(store, RedisStore):
        await store.client.flushdb()
        fresh: PoolStore = store
    else:
        fresh = EmbeddedStore()
    newcomer = await create_session(db, setup)
    assert (await lease(db, fresh, setup, newcomer, seconds=20)).kind == "target"
    # The holder keeps its number; the one who left gets theirs back inside the cooldown.
    assert await ping(db, fresh, setup, holders[0], seconds=30) == served[0]
    back = await create_session(db, setup)
    back.visitor_id = holders[1].visitor_id
    await db.flush()
    assert await lease(db, fresh, setup, back, seconds=40) == served[1]


async def test_a_stale_store_is_fenced_off_by_the_log(db: AsyncSession, store: PoolStore) -> None:
    setup = await create_pool(db, numbers=1)
    holder = await create_session(db, setup)
    served = await lease(db, store, setup, holder)
    # The store goes back to an old copy in which the number was never leased.
    await store.invalidate(str(setup.pool.id))
    token = await store.begin_rebuild(str(setup.pool.id))
    assert token is not None
    number_ids = [str(n.id) for n in setup.numbers]
    assert await store.restore(str(setup.pool.id), fresh_records(number_ids), token=token)
    # It hands generation 1 out again; the log refuses it, the pool is rebuilt, the truth wins.
    other = await lease(db, store, setup, await create_session(db, setup), seconds=5)
    assert other.kind == "target"
    assert [row.session_id for row in await assignments(db, setup)] == [holder.id]
    assert await ping(db, store, setup, holder, seconds=10) == served


async def test_an_unreachable_store_serves_the_fallback_quickly(db: AsyncSession) -> None:
    setup = await create_pool(db, numbers=2)
    good = EmbeddedStore()
    holder = await create_session(db, setup)
    served = await lease(db, good, setup, holder)
    down = RedisStore("redis://127.0.0.1:9/0", timeout_s=0.1)  # the discard port: refused
    try:
        started = time.perf_counter()
        newcomer = await lease(db, down, setup, await create_session(db, setup), seconds=1)
        # Not a speed target (bench/ has those): a refused store must cost one short timeout,
        # not a retry loop or the client's default seconds-long connect.
        assert time.perf_counter() - started < 1.0
        assert newcomer.kind == "target"
        # A session the log says holds a number keeps it while the store is down.
        assert await ping(db, down, setup, holder, seconds=2) == served
        rows = await fallbacks(db, setup)
        assert [(r.kind, r.reason) for r in rows] == [("target", "store_unavailable")]
    finally:
        await down.close()


async def test_close_expired_closes_the_log_of_a_quiet_pool(
    db: AsyncSession, store: PoolStore
) -> None:
    setup = await create_pool(db, numbers=2, idle_timeout_s=300)
    for _ in range(2):
        await lease(db, store, setup, await create_session(db, setup))
    closed = await service.close_expired(
        db, store, pool=setup.pool, now=T0 + timedelta(seconds=301)
    )
    assert closed == 2
    ended = [row.ended_at for row in await assignments(db, setup)]
    assert ended == [T0 + timedelta(seconds=300)] * 2


async def test_pool_health_counts_use_sessions_and_fallbacks(
    db: AsyncSession, store: PoolStore
) -> None:
    setup = await create_pool(db, numbers=2, idle_timeout_s=300, cooldown_s=900)
    for i in range(3):
        await lease(db, store, setup, await create_session(db, setup), seconds=i)
    health = await service.pool_health(
        db, store, pool=setup.pool, now=T0 + timedelta(seconds=60), hours=24
    )
    assert (health.size, health.in_use, health.peak_in_use) == (2, 2, 2)
    assert (health.sessions, health.fallback_sessions) == (3, 1)
    assert health.fallback_share == pytest.approx(1 / 3)
    # 3 sessions an hour holding ~1200 s each: about one erlang, 5 numbers for 1 % loss.
    assert health.recommended_size_hourly_mean == 5
    assert (health.busiest_hour_sessions, health.peak_15min_sessions) == (3, 3)
    # Issue 13: sized by the busiest quarter hour, 3 in 15 minutes are 12 an hour: 4 erlangs.
    assert health.recommended_size == 10
    later = await service.pool_health(
        db, store, pool=setup.pool, now=T0 + timedelta(seconds=1300), hours=24
    )
    assert (later.in_use, later.peak_in_use) == (0, 2)
    count = select(func.count()).select_from(NumberAssignment)
    closed = count.where(NumberAssignment.ended_at.is_not(None))
    assert (await db.execute(closed)).scalar_one() == 2


async def test_while_another_process_rebuilds_sessions_get_the_fallback_at_once(
    db: AsyncSession, store: PoolStore
) -> None:
    setup = await create_pool(db, numbers=2)
    token = await store.begin_rebuild(str(setup.pool.id))  # someone else is rebuilding
    assert token is not None
    started = time.perf_counter()
    served = await lease(db, store, setup, await create_session(db, setup))
    # Not a speed target: the session must not wait out the rebuild lock's 5 s.
    assert time.perf_counter() - started < 2.5
    assert served.kind == "target"
    assert [r.reason for r in await fallbacks(db, setup)] == ["store_unavailable"]
    await store.abandon_rebuild(str(setup.pool.id), token=token)
    assert (await lease(db, store, setup, await create_session(db, setup))).kind == "dynamic"


async def test_refresh_pool_picks_up_changed_numbers(db: AsyncSession, store: PoolStore) -> None:
    setup = await create_pool(db, numbers=2)
    holder = await create_session(db, setup)
    served = await lease(db, store, setup, holder)
    # The number nobody holds is retired from the pool.
    idle = next(n for n in setup.numbers if n.id != served.tracking_number_id)
    idle.retired_at = T0
    await db.flush()
    assert await service.refresh_pool(db, store, pool=setup.pool, now=T0 + timedelta(seconds=1))
    newcomer = await lease(db, store, setup, await create_session(db, setup), seconds=2)
    assert newcomer.kind == "target"
    assert await ping(db, store, setup, holder, seconds=3) == served
    health = await service.pool_health(db, store, pool=setup.pool, now=T0 + timedelta(seconds=4))
    assert health.size == 1
