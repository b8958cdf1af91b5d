"""The rules of the engine, example by example, on both stores."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from numberpool.rules import NumberRecord, PoolSettings, fresh_records
from numberpool.store import (
    Closed,
    Exhausted,
    Lease,
    LeaseOutcome,
    NeedsRebuild,
    NotHeld,
    PingOutcome,
    PoolStats,
    PoolStore,
    Swept,
)
from tests.numberpool.conftest import T0, ids

SETTINGS = PoolSettings(idle_timeout_s=300, cooldown_s=900, max_lease_s=3600)
NUMBERS = ids(3, base=100)
SESSIONS = ids(10, base=200)
VISITORS = ids(10, base=300)


class Pool:
    """One pool on a store, with a clock the test moves."""

    def __init__(self, store: PoolStore, pool_id: str, settings: PoolSettings = SETTINGS) -> None:
        self.store, self.id, self.settings, self.now = store, pool_id, settings, T0

    async def load(self, records: list[NumberRecord]) -> None:
        token = await self.store.begin_rebuild(self.id)
        assert token is not None
        assert await self.store.restore(self.id, records, token=token)

    def at(self, seconds: float) -> datetime:
        self.now = T0 + timedelta(seconds=seconds)
        return self.now

    async def lease(self, s: int, v: int | None = None) -> LeaseOutcome:
        visitor = None if v is None else VISITORS[v]
        return await self.store.lease(
            self.id,
            session_id=SESSIONS[s],
            visitor_id=visitor,
            settings=self.settings,
            now=self.now,
        )

    async def ping(self, s: int, v: int | None = None) -> PingOutcome:
        visitor = None if v is None else VISITORS[v]
        return await self.store.ping(
            self.id,
            session_id=SESSIONS[s],
            visitor_id=visitor,
            settings=self.settings,
            now=self.now,
        )

    async def release(self, s: int) -> Swept | NeedsRebuild:
        return await self.store.release(
            self.id, session_id=SESSIONS[s], settings=self.settings, now=self.now
        )

    async def stats(self) -> PoolStats:
        stats = await self.store.stats(self.id, settings=self.settings, now=self.now)
        assert isinstance(stats, PoolStats)
        return stats


@pytest.fixture
async def pool(store: PoolStore) -> Pool:
    pool = Pool(store, ids(1, base=900)[0])
    await pool.load(fresh_records(NUMBERS))
    return pool


def leased(outcome: object) -> Lease:
    assert isinstance(outcome, Lease), outcome
    return outcome


async def test_an_unknown_pool_needs_a_rebuild(store: PoolStore) -> None:
    pool = Pool(store, ids(1, base=901)[0])
    assert isinstance(await pool.lease(0), NeedsRebuild)
    assert isinstance(await pool.ping(0), NeedsRebuild)
    assert isinstance(await pool.release(0), NeedsRebuild)
    assert isinstance(await store.stats(pool.id, settings=SETTINGS, now=T0), NeedsRebuild)


async def test_each_session_gets_a_number_nobody_else_holds(pool: Pool) -> None:
    leases = [leased(await pool.lease(s, s)) for s in range(3)]
    assert sorted(lease.number for lease in leases) == NUMBERS
    assert all(lease.is_new and lease.generation == 1 for lease in leases)
    assert leases[0].started_at == T0
    assert leases[0].expires_at == T0 + timedelta(seconds=300)
    assert await pool.stats() == PoolStats(size=3, leased=3, cooling=0)


async def test_a_full_pool_answers_exhausted_without_blocking(pool: Pool) -> None:
    for s in range(3):
        leased(await pool.lease(s, s))
    assert isinstance(await pool.lease(3, 3), Exhausted)


async def test_asking_again_returns_the_same_lease(pool: Pool) -> None:
    first = leased(await pool.lease(0, 0))
    pool.at(10)
    again = leased(await pool.lease(0, 0))
    assert (again.number, again.generation, again.is_new) == (first.number, 1, False)


async def test_a_ping_extends_the_lease_by_the_idle_timeout(pool: Pool) -> None:
    first = leased(await pool.lease(0, 0))
    pool.at(200)
    ping = leased(await pool.ping(0, 0))
    assert (ping.number, ping.is_new) == (first.number, False)
    assert ping.expires_at == T0 + timedelta(seconds=500)
    pool.at(499)
    assert leased(await pool.ping(0, 0)).number == first.number


async def test_an_idle_lease_ends_at_its_expiry_and_rests_for_the_cooldown(pool: Pool) -> None:
    for s in range(3):
        leased(await pool.lease(s, s))
    pool.at(300)  # all three expired at 300: they rest until 1200
    outcome = await pool.lease(3, 3)
    assert isinstance(outcome, Exhausted)
    assert {(c.number, c.generation, c.ended_at) for c in outcome.closed} == {
        (n, 1, T0 + timedelta(seconds=300)) for n in NUMBERS
    }
    assert await pool.stats() == PoolStats(size=3, leased=0, cooling=3)
    pool.at(1199.999)
    assert isinstance(await pool.lease(3, 3), Exhausted)
    pool.at(1200)
    fresh = leased(await pool.lease(3, 3))
    assert (fresh.generation, fresh.is_new) == (2, True)


async def test_the_least_recently_released_number_goes_first(pool: Pool) -> None:
    a = leased(await pool.lease(0, 0)).number
    b = leased(await pool.lease(1, 1)).number
    c = leased(await pool.lease(2, 2)).number
    pool.at(10)
    await pool.release(1)
    pool.at(20)
    await pool.release(2)
    pool.at(30)
    await pool.release(0)
    pool.at(2000)
    order = [leased(await pool.lease(s, s)).number for s in (5, 6, 7)]
    assert order == [b, c, a]


async def test_among_numbers_released_together_the_least_used_goes_first(
    store: PoolStore,
) -> None:
    pool = Pool(store, ids(1, base=902)[0])
    # Never released (time 0) with 3, 1 and 2 past assignments.
    await pool.load(
        [
            NumberRecord(number=n, generation=g, state="free")
            for n, g in zip(NUMBERS, (3, 1, 2), strict=True)
        ]
    )
    order = [leased(await pool.lease(s, s)) for s in range(3)]
    assert [lease.number for lease in order] == [NUMBERS[1], NUMBERS[2], NUMBERS[0]]
    assert [lease.generation for lease in order] == [2, 3, 4]


async def test_a_returning_visitor_gets_their_number_back_during_the_cooldown(pool: Pool) -> None:
    first = leased(await pool.lease(0, 0))
    leased(await pool.lease(1, 1))
    pool.at(300 + 899)  # expired at 300, rests until 1200
    again = leased(await pool.lease(5, 0))
    assert (again.number, again.generation, again.is_new) == (first.number, 2, True)
    assert again.closed  # the expired leases were closed on the way


async def test_after_the_cooldown_the_number_is_no_longer_theirs(pool: Pool) -> None:
    first = leased(await pool.lease(0, 0))
    pool.at(1200)
    leased(await pool.lease(1, 1))  # takes the least recently released: not first's number
    again = leased(await pool.lease(5, 0))
    assert again.number != first.number or again.generation == 2


async def test_a_second_tab_of_a_visitor_takes_the_lease_over(pool: Pool) -> None:
    first = leased(await pool.lease(0, 0))
    pool.at(60)
    second = leased(await pool.lease(1, 0))
    assert (second.number, second.generation, second.is_new) == (first.number, 2, True)
    assert second.closed == (Closed(first.number, 1, T0 + timedelta(seconds=60)),)
    pool.at(100)
    # The first tab's pings keep the visitor's lease alive, without a new generation.
    ping = leased(await pool.ping(0, 0))
    assert (ping.number, ping.generation, ping.is_new) == (first.number, 2, False)
    assert ping.expires_at == T0 + timedelta(seconds=400)


async def test_a_lease_never_runs_past_max_lease(pool: Pool) -> None:
    first = leased(await pool.lease(0, 0))
    for t in range(250, 3600, 250):
        pool.at(t)
        assert leased(await pool.ping(0, 0)).number == first.number
    pool.at(3500)
    last = leased(await pool.ping(0, 0))
    assert last.expires_at == T0 + timedelta(seconds=3600)
    pool.at(3600)
    renewed = leased(await pool.ping(0, 0))
    assert renewed.number != first.number
    assert renewed.is_new
    assert Closed(first.number, 1, T0 + timedelta(seconds=3600)) in renewed.closed
    # Neither the session nor its visitor gets the capped number back while it rests.
    pool.at(3700)
    assert leased(await pool.lease(7, 0)).number != first.number


async def test_a_capped_session_in_a_full_pool_gets_exhausted(store: PoolStore) -> None:
    pool = Pool(store, ids(1, base=903)[0])
    await pool.load(fresh_records(NUMBERS[:1]))
    leased(await pool.lease(0, 0))
    for t in range(250, 3600, 250):
        pool.at(t)
        leased(await pool.ping(0, 0))
    pool.at(3600)
    assert isinstance(await pool.ping(0, 0), Exhausted)


async def test_release_ends_the_lease_now(pool: Pool) -> None:
    first = leased(await pool.lease(0, 0))
    pool.at(42)
    assert await pool.release(0) == Swept((Closed(first.number, 1, T0 + timedelta(seconds=42)),))
    assert await pool.release(0) == Swept(())
    assert await pool.stats() == PoolStats(size=3, leased=0, cooling=1)
    # The visitor's next session, inside the cooldown, gets it back.
    pool.at(100)
    assert leased(await pool.lease(3, 0)).number == first.number


async def test_a_ping_from_an_unknown_session_is_not_held(pool: Pool) -> None:
    assert isinstance(await pool.ping(0, 0), NotHeld)
    leased(await pool.lease(1, 1))
    assert isinstance(await pool.ping(0, None), NotHeld)


async def test_a_session_that_slept_past_its_cooldown_gets_a_new_lease_on_ping(pool: Pool) -> None:
    leased(await pool.lease(0, 0))
    pool.at(5000)
    renewed = leased(await pool.ping(0, 0))
    assert renewed.is_new


async def test_a_session_without_visitor_is_sticky_by_session(pool: Pool) -> None:
    first = leased(await pool.lease(0))
    pool.at(400)  # expired at 300, resting
    again = leased(await pool.ping(0))
    assert (again.number, again.is_new) == (first.number, True)


async def test_sweep_closes_expired_leases(pool: Pool) -> None:
    first = leased(await pool.lease(0, 0))
    swept = await pool.store.sweep(pool.id, settings=SETTINGS, now=pool.at(301))
    assert swept == Swept((Closed(first.number, 1, T0 + timedelta(seconds=300)),))


async def test_restore_brings_back_leases_and_rests(store: PoolStore) -> None:
    pool = Pool(store, ids(1, base=904)[0])
    records = [
        NumberRecord(
            number=NUMBERS[0],
            generation=4,
            state="leased",
            session_id=SESSIONS[0],
            visitor_id=VISITORS[0],
            started_at=T0,
            until=T0 + timedelta(seconds=300),
        ),
        NumberRecord(
            number=NUMBERS[1],
            generation=2,
            state="cooling",
            session_id=SESSIONS[1],
            visitor_id=VISITORS[1],
            started_at=T0 - timedelta(seconds=100),
            until=T0 - timedelta(seconds=10),
        ),
        NumberRecord(number=NUMBERS[2], generation=7, state="free", until=T0 - timedelta(hours=1)),
    ]
    await pool.load(records)
    assert await pool.stats() == PoolStats(size=3, leased=1, cooling=1)
    pool.at(5)
    held = leased(await pool.ping(0, 0))
    assert (held.number, held.generation, held.is_new) == (NUMBERS[0], 4, False)
    back = leased(await pool.lease(5, 1))
    assert (back.number, back.generation) == (NUMBERS[1], 3)
    other = leased(await pool.lease(6, 6))
    assert (other.number, other.generation) == (NUMBERS[2], 8)
    assert isinstance(await pool.lease(7, 7), Exhausted)


async def test_a_rebuild_needs_the_lock_and_a_lost_token_is_refused(store: PoolStore) -> None:
    pool_id = ids(1, base=905)[0]
    token = await store.begin_rebuild(pool_id)
    assert token is not None
    assert await store.begin_rebuild(pool_id) is None
    assert not await store.restore(pool_id, fresh_records(NUMBERS), token="not-the-token")
    await store.abandon_rebuild(pool_id, token=token)
    token = await store.begin_rebuild(pool_id)
    assert token is not None
    assert await store.restore(pool_id, fresh_records(NUMBERS), token=token)
    assert not await store.restore(pool_id, fresh_records(NUMBERS), token=token)


async def test_a_rebuild_never_overwrites_a_pool_another_caller_rebuilt_and_leased_from(
    store: PoolStore,
) -> None:
    pool = Pool(store, ids(1, base=906)[0])
    # Two callers find the pool missing. The first rebuilds it and leases a number; its lease
    # is not in the log yet (the log is written after the store decides).
    assert isinstance(await pool.lease(0, 0), NeedsRebuild)
    assert isinstance(await pool.lease(1, 1), NeedsRebuild)
    await pool.load(fresh_records(NUMBERS))
    first = leased(await pool.lease(0, 0))
    # The second caller takes the lock only now and restores what the log says: all free.
    token = await store.begin_rebuild(pool.id)
    assert token is not None
    assert not await store.restore(pool.id, fresh_records(NUMBERS), token=token)
    second = leased(await pool.lease(1, 1))
    assert second.number != first.number
    assert (await pool.stats()).leased == 2
    assert await store.begin_rebuild(pool.id) is not None  # the lock was let go


async def test_invalidate_refuses_the_restore_of_a_rebuild_already_under_way(
    store: PoolStore,
) -> None:
    pool = Pool(store, ids(1, base=907)[0])
    await pool.load(fresh_records(NUMBERS))
    # A rebuild starts and reads the log; then the pool's numbers change and it is invalidated.
    early = await store.begin_rebuild(pool.id)
    assert early is not None
    await store.invalidate(pool.id)
    assert not await store.restore(pool.id, fresh_records(NUMBERS[:1]), token=early)
    # The rebuild that follows the change is the one that loads the pool.
    await pool.load(fresh_records(NUMBERS[1:]))
    assert (await pool.stats()).size == 2


async def test_invalidate_makes_the_pool_rebuild(pool: Pool) -> None:
    leased(await pool.lease(0, 0))
    await pool.store.invalidate(pool.id)
    assert isinstance(await pool.ping(0, 0), NeedsRebuild)
    await pool.store.drop(pool.id)
    assert isinstance(await pool.lease(0, 0), NeedsRebuild)


async def test_the_store_is_healthy(store: PoolStore) -> None:
    assert await store.healthy()
    assert store.kind in ("embedded", "redis")
