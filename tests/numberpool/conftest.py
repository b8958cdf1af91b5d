"""Fixtures of the pool tests: both stores, and a site with a pool written to the database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    NumberKind,
    Pool,
    Site,
    TargetNumber,
    TrackingNumber,
    TrackingSession,
    Visitor,
)
from numberpool.embedded_store import EmbeddedStore
from numberpool.redis_store import RedisStore
from numberpool.store import PoolStore
from tests.backends import TEST_REDIS_URL, require_redis

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
STORES = ["embedded", "redis"]


def new_store(kind: str, *, timeout_s: float = 2.0) -> PoolStore:
    """A store; Redis with a generous timeout, since a busy test machine is not an outage."""
    if kind == "embedded":
        return EmbeddedStore()
    return RedisStore(TEST_REDIS_URL, timeout_s=timeout_s)


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[PoolStore]:
    """Every store test runs against both stores."""
    pool_store = new_store(request.param)
    if isinstance(pool_store, RedisStore):
        require_redis()
        await pool_store.client.flushdb()
    try:
        yield pool_store
    finally:
        if isinstance(pool_store, RedisStore):
            await pool_store.client.flushdb()
        await pool_store.close()


@pytest.fixture
async def redis_store(redis: Redis) -> AsyncIterator[RedisStore]:
    pool_store = RedisStore(TEST_REDIS_URL, timeout_s=2.0)
    try:
        yield pool_store
    finally:
        await pool_store.close()


def ids(count: int, *, base: int = 0) -> list[str]:
    """Readable, ordered UUID strings: 00000000-...-000000000001 and so on."""
    return [str(uuid.UUID(int=base + i + 1)) for i in range(count)]


@dataclass
class PoolSetup:
    site: Site
    pool: Pool
    target: TargetNumber
    numbers: list[TrackingNumber]  # the pool's, in id order
    sources: list[TrackingNumber]

    def e164(self, tracking_number_id: uuid.UUID | None) -> str:
        for number in [*self.numbers, *self.sources]:
            if number.id == tracking_number_id:
                return number.number
        raise KeyError(tracking_number_id)


async def create_pool(
    db: AsyncSession,
    *,
    numbers: int = 3,
    idle_timeout_s: int = 300,
    cooldown_s: int = 900,
    max_lease_s: int = 14400,
    source_rules: Sequence[tuple[str, str | None, str | None]] = (),
    now: datetime = T0,
) -> PoolSetup:
    """A site, its target number, a pool of `numbers` and source-level static numbers; flushed."""
    serial = uuid.uuid4().int % 10**6
    site = Site(
        id=uuid.uuid4(),
        public_key=f"cs_{uuid.uuid4().hex[:16]}",
        name="Shop",
        domains=["shop.example"],
        country="RU",
        timezone="Europe/Moscow",
        created_at=now,
        retired_at=None,
    )
    target = TargetNumber(
        id=uuid.uuid4(), site_id=site.id, number=f"+7495{serial:07d}", created_at=now
    )
    pool = Pool(
        id=uuid.uuid4(),
        site_id=site.id,
        target_number_id=target.id,
        idle_timeout_s=idle_timeout_s,
        cooldown_s=cooldown_s,
        max_lease_s=max_lease_s,
        created_at=now,
        retired_at=None,
    )
    db.add_all([site, target])
    await db.flush()
    db.add(pool)
    await db.flush()
    pool_numbers = [
        TrackingNumber(
            id=uuid.uuid4(),
            site_id=site.id,
            number=f"+7499{serial:06d}{i:03d}",
            kind=NumberKind.DYNAMIC.value,
            pool_id=pool.id,
            target_number_id=target.id,
            created_at=now,
            retired_at=None,
        )
        for i in range(numbers)
    ]
    sources = [
        TrackingNumber(
            id=uuid.uuid4(),
            site_id=site.id,
            number=f"+7498{serial:06d}{i:03d}",
            kind=NumberKind.SOURCE.value,
            pool_id=None,
            target_number_id=target.id,
            source=source,
            medium=medium,
            campaign=campaign,
            created_at=now,
            retired_at=None,
        )
        for i, (source, medium, campaign) in enumerate(source_rules)
    ]
    db.add_all([*pool_numbers, *sources])
    await db.flush()
    return PoolSetup(site, pool, target, sorted(pool_numbers, key=lambda n: n.id), sources)


async def create_session(
    db: AsyncSession,
    setup: PoolSetup,
    *,
    visitor: bool = True,
    source: str = "google",
    medium: str = "organic",
    now: datetime = T0,
) -> TrackingSession:
    visitor_row = None
    if visitor:
        visitor_row = Visitor(
            id=uuid.uuid4(), site_id=setup.site.id, created_at=now, last_seen_at=now
        )
        db.add(visitor_row)
        await db.flush()
    session = TrackingSession(
        id=uuid.uuid4(),
        site_id=setup.site.id,
        visitor_id=visitor_row.id if visitor_row else None,
        started_at=now,
        last_seen_at=now,
        landing_url="https://shop.example/",
        source=source,
        medium=medium,
        consent=True,
    )
    db.add(session)
    await db.flush()
    return session
