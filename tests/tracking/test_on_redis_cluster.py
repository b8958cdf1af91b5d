"""The whole tracker on a Redis Cluster: the app started with a redis+cluster:// URL leases
pool numbers through the cluster, with the per-address cap in the same step, and its rate
limits count there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from httpx import AsyncClient
from pydantic import SecretStr

from app.config import Settings
from tests.clock import ManualClock
from tests.conftest import PUBLIC_URL, TEST_ADMIN_TOKEN, TEST_SECRET_KEY
from tests.factories import create_pool, create_site
from tests.private_services import require_private_redis
from tests.redis_topologies import PrivateRedisCluster, collect_dropped_connections
from tests.tracking.test_drain import kind, start

pytestmark = [pytest.mark.slow, pytest.mark.only_on("postgresql")]

POOL = [f"+7 495 000-00-0{n}" for n in range(1, 7)]


@pytest.fixture
def cluster() -> Iterator[PrivateRedisCluster]:
    require_private_redis()
    with PrivateRedisCluster(masters=3) as running:
        yield running
    collect_dropped_connections()


@pytest.fixture
def settings(database_url: str, cluster: PrivateRedisCluster) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=cluster.url,
        admin_token=SecretStr(TEST_ADMIN_TOKEN),
        secret_key=SecretStr(TEST_SECRET_KEY),
        public_url=PUBLIC_URL,
    )


@pytest.fixture
async def site(client: AsyncClient) -> dict[str, Any]:
    site = await create_site(client)
    pool = await create_pool(client, site["id"], numbers=POOL)
    return {**site, "pool_id": pool["id"]}


async def test_visitors_lease_through_the_cluster_within_the_address_cap(
    anonymous: AsyncClient, client: AsyncClient, site: dict[str, Any], clock: ManualClock
) -> None:
    shown = [kind(await start(anonymous, site)) for _ in range(4)]
    # Three live leases per address, enforced in the pool's step on its shard.
    assert shown == ["dynamic", "dynamic", "dynamic", "target"]
    clock.advance(seconds=1)  # the health window ends just before `now`
    health = await client.get(f"/api/v1/sites/{site['id']}/pools/{site['pool_id']}/health")
    assert health.json()["in_use"] == 3
    assert health.json()["refused_sessions"]["address_cap"] == 1
