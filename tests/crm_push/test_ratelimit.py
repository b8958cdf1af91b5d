"""Per-connector rate limits shared by every worker: GCRA reservations in process and in Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_push.ratelimit import MemoryRateLimiter, Rate, RateLimiter, RedisRateLimiter
from tests.clock import ManualClock
from tests.crm_push.conftest import TEST_CONFIG, World, make_worker, outbox
from tests.crm_push.fake_crm import FakeCrmServer

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def _waits(
    limiter: RateLimiter, rate: Rate, n: int, *, max_wait_s: float = 60
) -> list[float | None]:
    return [await limiter.reserve("crm:x", rate, now=T0, max_wait_s=max_wait_s) for _ in range(n)]


@pytest.fixture(params=["memory", "redis"])
async def limiters(request: pytest.FixtureRequest) -> AsyncIterator[list[RateLimiter]]:
    """Two limiters, as two worker processes would have: they must share the bucket."""
    if request.param == "memory":
        shared = MemoryRateLimiter()
        yield [shared, shared]
        return
    url: str = request.getfixturevalue("redis_url")
    clients = [Redis.from_url(url), Redis.from_url(url)]
    await clients[0].flushdb()
    try:
        yield [RedisRateLimiter(client) for client in clients]
    finally:
        await clients[0].flushdb()
        for client in clients:
            await client.aclose()


async def test_reservations_space_requests_at_the_rate_across_workers(
    limiters: list[RateLimiter],
) -> None:
    rate = Rate(per_s=7.0)
    first, second = limiters
    waits = [
        await (first if n % 2 else second).reserve("crm:x", rate, now=T0, max_wait_s=60)
        for n in range(8)
    ]
    assert waits == pytest.approx([n / 7 for n in range(8)], abs=1e-5)


async def test_a_slot_too_far_away_is_not_taken(limiters: list[RateLimiter]) -> None:
    rate = Rate(per_s=2.0)
    limiter = limiters[0]
    assert await _waits(limiter, rate, 3, max_wait_s=0.6) == [0.0, 0.5, None]
    # Nothing was reserved by the refusal: the next slot is still at 1.0 s.
    later = T0 + timedelta(seconds=0.5)
    assert await limiter.reserve("crm:x", rate, now=later, max_wait_s=1) == pytest.approx(0.5)


async def test_bursts_and_keys_are_separate(limiters: list[RateLimiter]) -> None:
    limiter = limiters[0]
    assert await _waits(limiter, Rate(per_s=2.0, burst=3), 4) == pytest.approx([0, 0, 0, 0.5])
    assert await limiter.reserve("crm:y", Rate(per_s=2.0), now=T0, max_wait_s=1) == 0


async def test_redis_down_falls_back_to_a_limit_in_process() -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.1)
    limiter = RedisRateLimiter(unreachable)
    try:
        assert await _waits(limiter, Rate(per_s=2.0), 2) == [0.0, 0.5]
    finally:
        await limiter.close()


async def test_the_worker_keeps_amocrm_at_seven_requests_a_second(
    world: World,
    crm: FakeCrmServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    clock: ManualClock,
    redis: Redis,
) -> None:
    await world.amocrm(crm)
    for n in range(15):
        await world.call(caller=f"+7900333{n:04d}")
    config = replace(TEST_CONFIG, concurrency=15, batch_size=15)
    worker = make_worker(sessionmaker, http, clock, limiter=RedisRateLimiter(redis), config=config)
    started = clock.now

    await worker.deliver_due()

    assert {r.status for r in await outbox(sessionmaker)} == {"sent"}
    # 15 requests at 7/s: the last may go 14/7 s after the first.
    assert clock.now - started == pytest.approx(
        timedelta(seconds=14 / 7), abs=timedelta(milliseconds=5)
    )
