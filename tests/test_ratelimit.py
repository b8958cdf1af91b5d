"""The fixed-window limiter, in process and in real Redis, and what happens when Redis is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from app.ratelimit import (
    Limit,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    create_rate_limiter,
)
from tests.backends import TEST_REDIS_URL, require_redis

LIMIT = Limit("test", requests=3, window_s=60)
START = datetime(2026, 11, 2, 9, 0, 10, tzinfo=UTC)


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    require_redis()
    client = Redis.from_url(TEST_REDIS_URL)
    await client.flushdb()
    redis_limiter = RedisRateLimiter(client)
    yield redis_limiter
    await redis_limiter.close()
    cleaner = Redis.from_url(TEST_REDIS_URL)
    await cleaner.flushdb()
    await cleaner.aclose()


async def test_allows_up_to_the_limit_then_says_how_long_to_wait(limiter: RateLimiter) -> None:
    answers = [await limiter.hit(LIMIT, "1.2.3.4", now=START) for _ in range(4)]

    assert answers[:3] == [None, None, None]
    assert answers[3] == 50  # the window ends at 09:01:00
    # Another key has its own count; the next window starts afresh.
    assert await limiter.hit(LIMIT, "5.6.7.8", now=START) is None
    assert await limiter.hit(LIMIT, "1.2.3.4", now=START + timedelta(seconds=50)) is None
    await limiter.close()


async def test_memory_limiter_forgets_ended_windows() -> None:
    limiter = MemoryRateLimiter(max_keys=10)
    for n in range(10):
        await limiter.hit(LIMIT, f"k{n}", now=START)

    await limiter.hit(LIMIT, "late", now=START + timedelta(minutes=5))

    assert len(limiter._counts) == 1


async def test_unreachable_redis_lets_requests_through() -> None:
    limiter = create_rate_limiter("redis://127.0.0.1:1/0")
    assert [await limiter.hit(LIMIT, "k", now=START) for _ in range(5)] == [None] * 5
    await limiter.close()


async def test_checks_in_order_and_a_refused_address_does_not_use_up_the_site(
    limiter: RateLimiter,
) -> None:
    per_address = Limit("address", requests=2, window_s=60)
    per_site = Limit("site", requests=3, window_s=60)

    def checks(address: str) -> list[tuple[Limit, str]]:
        return [(per_address, address), (per_site, "shop")]

    flood = [await limiter.hit_all(checks("6.6.6.6"), now=START) for _ in range(5)]
    others = [await limiter.hit_all(checks(f"10.0.0.{n}"), now=START) for n in range(2)]
    over = await limiter.hit_all(checks("10.0.0.9"), now=START)

    assert flood[:2] == [None, None]
    refused_by = [r.limit if r is not None else None for r in flood[2:]]
    assert refused_by == [per_address] * 3
    assert flood[2] is not None
    assert flood[2].retry_after_s == 50
    # The site counted only the 2 requests of the flood it let through: one more visitor fits.
    assert others[0] is None
    assert others[1] is not None
    assert others[1].limit == per_site
    assert over is not None
    assert over.limit == per_site
