"""The pool store on a real Redis Cluster and behind a real Sentinel set, under load, with a
master killed: no number is ever leased to two live sessions, the pools of the shards that stay
up keep leasing, and a shard or a promoted replica that lost the pools rebuilds them from the
lease log."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from redis import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import TrackingSession
from numberpool import service
from numberpool.redis_store import RedisStore, pool_keys
from numberpool.store import StoreUnavailable
from tests.numberpool.conftest import T0, PoolSetup, create_pool, create_session
from tests.numberpool.logcheck import assert_no_overlap
from tests.numberpool.test_recovery import assert_held_by, serve
from tests.private_services import require_private_redis
from tests.redis_topologies import (
    PrivateRedisCluster,
    PrivateSentinels,
    collect_dropped_connections,
)

pytestmark = [pytest.mark.slow, pytest.mark.only_on("postgresql")]


class Load:
    """Visitors of several pools leasing, pinging and leaving; one clock for all of them, moved
    under a lock so the store sees time only go forward (as requests a few ms apart do)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        store: RedisStore,
        setups: list[PoolSetup],
    ) -> None:
        self.sessionmaker = sessionmaker
        self.store = store
        self.setups = setups
        self.clock = T0
        self.lock = asyncio.Lock()
        self.active: dict[int, list[TrackingSession]] = {i: [] for i in range(len(setups))}

    async def run(self, *, steps: int, seed: int) -> dict[int, Counter[str]]:
        """`steps` visitor actions on every pool; what each pool's visitors were shown, by kind
        and by action and kind ("new:dynamic": a new visit given a pool number)."""
        shown: dict[int, Counter[str]] = {i: Counter() for i in range(len(self.setups))}
        await asyncio.gather(
            *(self._visitors(i, steps, random.Random(seed * 100 + i), shown[i]) for i in shown)
        )
        return shown

    async def _visitors(
        self, index: int, steps: int, rng: random.Random, shown: Counter[str]
    ) -> None:
        setup, active = self.setups[index], self.active[index]
        for _ in range(steps):
            async with self.sessionmaker() as db:
                roll = rng.random()
                async with self.lock:
                    self.clock += timedelta(seconds=rng.uniform(0, 2))
                    now = self.clock
                    action = "new" if roll < 0.4 or not active else "ping"
                    if action == "new":
                        visit = await create_session(db, setup, now=now)
                        active[:] = [*active[-2:], visit]
                        served = await serve(db, self.store, setup, visit, now)
                    elif roll < 0.9:
                        visit = rng.choice(active)
                        served = await serve(db, self.store, setup, visit, now, ping=True)
                    else:
                        visit = active.pop(rng.randrange(len(active)))
                        await service.release_session(
                            db, self.store, pool=setup.pool, session_id=visit.id, now=now
                        )
                        served = None
                if served is not None:
                    await assert_held_by(db, served, visit, now)
                    shown[served.kind] += 1
                    shown[f"{action}:{served.kind}"] += 1
                await db.commit()

    async def check_the_log(self) -> int:
        async with self.sessionmaker() as db:
            return sum([await assert_no_overlap(db, setup.pool) for setup in self.setups])


async def _pools(sessionmaker: async_sessionmaker[AsyncSession], count: int) -> list[PoolSetup]:
    async with sessionmaker() as db:
        setups = [
            await create_pool(db, numbers=8, idle_timeout_s=20, cooldown_s=10, max_lease_s=300)
            for _ in range(count)
        ]
        await db.commit()
    return setups


def _rebuilt_on(port: int, setup: PoolSetup) -> bool:
    """The pool's ready mark names this server's run: it was restored there from the log."""
    with Redis(port=port, decode_responses=True) as client:
        run_id = client.info("server")["run_id"]
        return bool(client.get(pool_keys(str(setup.pool.id))[0]) == run_id)


async def _store_answers(store: RedisStore, setup: PoolSetup, now: datetime) -> None:
    """Wait until the store answers for this pool again (past its circuit breaker)."""
    for _ in range(200):
        try:
            await store.stats(
                str(setup.pool.id), settings=service.pool_settings(setup.pool), now=now
            )
            return
        except StoreUnavailable:
            await asyncio.sleep(0.05)
    raise AssertionError("the store did not answer for the pool again")


@pytest.fixture
def cluster() -> Iterator[PrivateRedisCluster]:
    require_private_redis()
    with PrivateRedisCluster(masters=3) as running:
        yield running
    collect_dropped_connections()


@pytest.fixture
def sentinels() -> Iterator[PrivateSentinels]:
    require_private_redis()
    with PrivateSentinels() as running:
        yield running
    collect_dropped_connections()


async def test_a_cluster_shard_killed_and_back_empty_never_double_leases(
    sessionmaker: async_sessionmaker[AsyncSession], cluster: PrivateRedisCluster
) -> None:
    # Pools until every shard holds at least one (each pool's keys hash to one slot).
    setups: list[PoolSetup] = []
    shard_of: list[int] = []
    while len(set(shard_of)) < 3 or len(setups) < 4:
        [setup] = await _pools(sessionmaker, 1)
        slot = cluster.slot_of(pool_keys(str(setup.pool.id))[0])
        setups.append(setup)
        shard_of.append(cluster.master_of_slot(slot).port)
    victim = next(node for node in cluster.nodes if node.port == shard_of[0])
    on_victim = {i for i, port in enumerate(shard_of) if port == victim.port}
    elsewhere = set(range(len(setups))) - on_victim

    store = RedisStore(cluster.url, timeout_s=1.0, retry_after_s=0.05)
    load = Load(sessionmaker, store, setups)
    try:
        before = await load.run(steps=20, seed=1)
        assert all(before[i]["dynamic"] > 0 for i in before), before

        victim.kill()
        during = await load.run(steps=12, seed=2)
        # The shard's pools give new visits the fallback (their holders keep their numbers,
        # from the log); the other shards' pools keep leasing.
        assert all(during[i]["new:dynamic"] == 0 for i in on_victim), during
        assert all(during[i]["new:dynamic"] > 0 for i in elsewhere), during

        victim.start()  # its slots, none of its data
        cluster.wait_until_serving(victim)
        cluster.wait_until_ok()
        await _store_answers(store, setups[min(on_victim)], load.clock)
        after = await load.run(steps=20, seed=3)
        # Rebuilt from the log: the shard's pools lease again.
        assert all(after[i]["new:dynamic"] > 0 for i in on_victim), after
        assert all(_rebuilt_on(victim.port, setups[i]) for i in on_victim)
        assert await load.check_the_log() > 20
    finally:
        await store.close()


async def test_a_sentinel_failover_rebuilds_the_pools_and_never_double_leases(
    sessionmaker: async_sessionmaker[AsyncSession], sentinels: PrivateSentinels
) -> None:
    setups = await _pools(sessionmaker, 3)
    store = RedisStore(sentinels.url, timeout_s=1.0, retry_after_s=0.05)
    load = Load(sessionmaker, store, setups)
    try:
        before = await load.run(steps=20, seed=1)
        assert all(before[i]["dynamic"] > 0 for i in before), before

        # The replica has the pools, marked ready for the old master's run: once promoted it
        # must not serve that copy (leases of the last moments may be missing from it).
        promoted = sentinels.kill_master_and_wait_for_failover()
        await _store_answers(store, setups[0], load.clock)
        after = await load.run(steps=20, seed=2)
        assert all(after[i]["new:dynamic"] > 0 for i in after), after
        assert all(_rebuilt_on(promoted.port, setup) for setup in setups)
        assert await load.check_the_log() > 20
    finally:
        await store.close()
