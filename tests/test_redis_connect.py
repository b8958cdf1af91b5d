"""CALLSOURCE_REDIS_URL's three forms, and the public rate limits on a real Redis Cluster."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from app.kit.redis_connect import RedisAddress, connect_redis, is_cluster
from app.ratelimit import Limit, RedisRateLimiter
from tests.private_services import require_private_redis
from tests.redis_topologies import PrivateRedisCluster, collect_dropped_connections

NOW = datetime(2026, 12, 4, 10, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "redis+cluster://10.0.0.1:7000,10.0.0.2:7001",
            RedisAddress("redis+cluster", (("10.0.0.1", 7000), ("10.0.0.2", 7001)), None, None, ()),
        ),
        (
            "redis+cluster://app:s%40cret@cache-1,cache-2:7002",
            RedisAddress(
                "redis+cluster", (("cache-1", 6379), ("cache-2", 7002)), "app", "s@cret", ()
            ),
        ),
        (
            "redis+sentinel://:pw@s1:26379,s2/mymaster/2",
            RedisAddress(
                "redis+sentinel", (("s1", 26379), ("s2", 6379)), None, "pw", ("mymaster", "2")
            ),
        ),
        (
            "redis+cluster://[::1]:7000",
            RedisAddress("redis+cluster", (("::1", 7000),), None, None, ()),
        ),
    ],
)
def test_multi_host_urls_are_read(url: str, expected: RedisAddress) -> None:
    assert RedisAddress.parse(url, default_port=6379) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memcached://cache:11211", "is not redis://, redis\\+cluster:// or redis\\+sentinel://"),
        ("redis+sentinel://s1:26379", "needs the master's name"),
        ("redis+cluster://", "needs at least one host:port"),
        ("redis+cluster://cache:port", "is not host:port"),
    ],
)
def test_a_wrong_url_says_what_is_expected(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        connect_redis(url, timeout_s=0.1)


async def test_each_form_makes_its_kind_of_client() -> None:
    single = connect_redis("redis://127.0.0.1:6379/3", timeout_s=0.1)
    cluster = connect_redis("redis+cluster://127.0.0.1:7000", timeout_s=0.1)
    sentinel = connect_redis("redis+sentinel://127.0.0.1:26379/mymaster", timeout_s=0.1)
    try:
        assert isinstance(single, Redis)
        assert not is_cluster(single)
        assert isinstance(cluster, RedisCluster)
        assert is_cluster(cluster)
        assert isinstance(sentinel, Redis)
        assert not is_cluster(sentinel)
    finally:
        for client in (single, sentinel):
            await client.aclose()


@pytest.fixture
def cluster() -> Iterator[PrivateRedisCluster]:
    require_private_redis()
    with PrivateRedisCluster(masters=3) as running:
        yield running
    collect_dropped_connections()


@pytest.mark.slow
async def test_the_public_limits_hold_on_a_cluster(cluster: PrivateRedisCluster) -> None:
    """The counters of one request live on different slots: each is its own step there, and
    a refusal still stops the later counters (a flooding address spends no site budget)."""
    limiter = RedisRateLimiter(connect_redis(cluster.url, timeout_s=1.0))
    per_address = Limit("ip", requests=3, window_s=60)
    per_site = Limit("site", requests=100, window_s=60)
    try:
        checks = [(per_address, "203.0.113.9"), (per_site, "site-1")]
        outcomes = [await limiter.hit_all(checks, now=NOW) for _ in range(5)]
        assert outcomes[:3] == [None, None, None]
        assert outcomes[3] is not None
        assert outcomes[3].limit == per_address
        assert outcomes[3].retry_after_s == 30
        # Only the three allowed requests counted against the site.
        for _ in range(97):
            assert await limiter.hit(per_site, "site-1", now=NOW) is None
        assert await limiter.hit(per_site, "site-1", now=NOW) == 30
    finally:
        await limiter.close()
