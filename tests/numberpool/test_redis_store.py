"""What only the Redis store has to get right: one slot per pool, scripts that survive a
SCRIPT FLUSH, and a small memory footprint per live lease."""

from __future__ import annotations

import uuid

import pytest
from redis.crc import key_slot

from numberpool.redis_store import RedisStore, pool_keys
from numberpool.rules import PoolSettings, fresh_records
from numberpool.store import Lease
from tests.numberpool.conftest import T0

RULES = PoolSettings()


async def load(store: RedisStore, numbers: int) -> str:
    pool_id = str(uuid.uuid4())
    token = await store.begin_rebuild(pool_id)
    assert token is not None
    records = fresh_records([str(uuid.uuid4()) for _ in range(numbers)])
    assert await store.restore(pool_id, records, token=token)
    return pool_id


async def lease(store: RedisStore, pool_id: str) -> Lease:
    outcome = await store.lease(
        pool_id,
        session_id=str(uuid.uuid4()),
        visitor_id=str(uuid.uuid4()),
        settings=RULES,
        now=T0,
    )
    assert isinstance(outcome, Lease)
    return outcome


async def test_a_pool_lives_in_one_cluster_slot(redis_store: RedisStore) -> None:
    pool_id = await load(redis_store, 3)
    await lease(redis_store, pool_id)
    stored = [key async for key in redis_store.client.scan_iter(match=f"cs:{{pool:{pool_id}}}:*")]
    assert stored
    assert {key_slot(key) for key in stored} == {key_slot(pool_keys(pool_id)[0].encode())}
    assert {key_slot(key.encode()) for key in pool_keys(pool_id)} == {key_slot(stored[0])}


async def test_the_script_is_reloaded_after_script_flush(redis_store: RedisStore) -> None:
    pool_id = await load(redis_store, 2)
    await lease(redis_store, pool_id)
    await redis_store.client.script_flush()
    assert (await lease(redis_store, pool_id)).generation == 1


async def test_a_live_lease_costs_at_most_300_bytes(redis_store: RedisStore) -> None:
    for numbers in (50, 500):  # small hashes are packed; large ones are real hash tables
        pool_id = await load(redis_store, numbers)

        async def usage(pool_id: str = pool_id) -> int:
            sizes = [
                await redis_store.client.memory_usage(key, samples=0) for key in pool_keys(pool_id)
            ]
            return sum(size or 0 for size in sizes)

        before = await usage()
        for _ in range(numbers):
            await lease(redis_store, pool_id)
        per_lease = (await usage() - before) / numbers
        assert per_lease <= 300, (numbers, per_lease)


async def test_ids_must_be_uuids(redis_store: RedisStore) -> None:
    pool_id = await load(redis_store, 1)
    with pytest.raises(ValueError, match="hexadecimal UUID"):
        await redis_store.lease(
            pool_id, session_id="not-a-uuid", visitor_id=None, settings=RULES, now=T0
        )
