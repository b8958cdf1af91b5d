"""Configuration snapshots renew when a transaction that called `configuration_changed` commits:
not before, not for a rollback, and for every service that writes configuration."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.outbound import OutboundPolicy
from app.models import Pool, Site
from app.numbers import service as numbers_service
from app.numbers.schemas import PoolCreate, PoolUpdate, StaticNumberCreate, StaticNumberUpdate
from app.sites import service as sites_service
from app.sites.schemas import SiteCreate, SiteUpdate
from app.snapshots import SnapshotCache, configuration_changed
from crm_push import service as crm_service
from crm_push.schemas import CrmConnectorUpdate, WebhookCreate
from pbx_webhooks import service as pbx_service
from pbx_webhooks.schemas import GenericCreate, PbxIntegrationUpdate

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OUTBOUND = OutboundPolicy.parse("crm.example")


class Reader:
    """A snapshot of nothing but its own load count: it shows when the cache renewed."""

    def __init__(self) -> None:
        # Never stale by age: only a published change renews it.
        self.cache: SnapshotCache[str, int] = SnapshotCache(ttl_s=3600, monotonic=lambda: 0.0)
        self.loads = 0

    async def _load(self) -> int:
        self.loads += 1
        return self.loads

    async def read(self) -> int:
        return await self.cache.get("key", self._load)


@pytest.fixture
async def reader() -> Reader:
    reader = Reader()
    assert await reader.read() == 1
    return reader


async def test_a_change_is_published_when_its_transaction_commits(
    db: AsyncSession, reader: Reader
) -> None:
    await db.execute(update(Site).values(name="renamed"))  # a raw write, announced by hand
    configuration_changed(db)
    assert await reader.read() == 1  # not before the commit

    await db.commit()

    assert await reader.read() == 2


async def test_a_rolled_back_change_is_not_published(db: AsyncSession, reader: Reader) -> None:
    configuration_changed(db)
    await db.rollback()
    await db.execute(select(1))  # the next transaction of the same session changes nothing
    await db.commit()

    assert await reader.read() == 1


async def test_a_transaction_without_a_change_publishes_nothing(
    db: AsyncSession, reader: Reader
) -> None:
    configuration_changed(db)
    await db.commit()
    assert await reader.read() == 2

    await db.execute(update(Site).values(name="renamed"))
    await db.commit()

    assert await reader.read() == 2


async def test_a_savepoint_released_publishes_only_with_its_transaction(
    db: AsyncSession, reader: Reader
) -> None:
    async with db.begin_nested():
        configuration_changed(db)
    assert await reader.read() == 1

    await db.commit()

    assert await reader.read() == 2


async def test_a_session_closed_without_commit_forgets_its_change(
    db: AsyncSession, reader: Reader
) -> None:
    await db.execute(update(Site).values(name="renamed"))
    configuration_changed(db)
    await db.close()
    await db.execute(select(1))  # the session, used again, changes nothing
    await db.commit()

    assert await reader.read() == 1


# --- every service that writes configuration -------------------------------------------------


@dataclass(frozen=True)
class World:
    site: Site
    pool_id: uuid.UUID
    static_id: uuid.UUID
    integration_id: uuid.UUID
    connector_id: uuid.UUID


async def _world(db: AsyncSession) -> World:
    site = await sites_service.create_site(
        db,
        SiteCreate(name="Shop", domains=["shop.example"], country="RU", timezone="Europe/Moscow"),
        now=NOW,
    )
    pool = await numbers_service.create_pool(
        db,
        site,
        PoolCreate(target_number="+7 495 123-45-67", numbers=["+7 495 000-00-01"]),
        now=NOW,
    )
    static = await numbers_service.create_static_number(
        db,
        site,
        StaticNumberCreate(number="+7 495 000-01-01", kind="offline", campaign="flyers"),
        now=NOW,
    )
    integration = await pbx_service.create_integration(
        db, site, GenericCreate(provider="generic", name="PBX"), now=NOW
    )
    connector = await crm_service.create_connector(
        db,
        site,
        WebhookCreate(kind="webhook", name="CRM", url="https://crm.example/hook"),
        now=NOW,
        outbound=OUTBOUND,
    )
    return World(site, pool.id, static.id, integration.id, connector.id)


Write = Callable[[AsyncSession, World], Awaitable[object]]


async def _create_site(db: AsyncSession, w: World) -> object:
    data = SiteCreate(name="Two", domains=["two.example"], country="RU", timezone="UTC")
    return await sites_service.create_site(db, data, now=NOW)


async def _update_site(db: AsyncSession, w: World) -> object:
    return await sites_service.update_site(db, w.site.id, SiteUpdate(name="Renamed"))


async def _retire_site(db: AsyncSession, w: World) -> object:
    return await sites_service.retire_site(db, w.site.id, now=NOW)


async def _create_pool(db: AsyncSession, w: World) -> object:
    data = PoolCreate(target_number="+7 495 765-43-21", numbers=["+7 495 000-00-09"])
    return await numbers_service.create_pool(db, w.site, data, now=NOW)


async def _update_pool(db: AsyncSession, w: World) -> object:
    data = PoolUpdate(cooldown_s=60)
    return await numbers_service.update_pool(db, w.site, w.pool_id, data, now=NOW)


async def _retire_pool(db: AsyncSession, w: World) -> object:
    return await numbers_service.retire_pool(db, site_id=w.site.id, pool_id=w.pool_id, now=NOW)


async def _create_static(db: AsyncSession, w: World) -> object:
    # A target number of its own is created on the way, written by the same service.
    data = StaticNumberCreate(
        number="+7 495 000-01-02", kind="source", target_number="+7 495 111-11-11", source="ya"
    )
    return await numbers_service.create_static_number(db, w.site, data, now=NOW)


async def _update_static(db: AsyncSession, w: World) -> object:
    data = StaticNumberUpdate(campaign="billboards")
    return await numbers_service.update_static_number(
        db, site_id=w.site.id, number_id=w.static_id, data=data
    )


async def _retire_static(db: AsyncSession, w: World) -> object:
    return await numbers_service.retire_static_number(
        db, site_id=w.site.id, number_id=w.static_id, now=NOW
    )


async def _create_integration(db: AsyncSession, w: World) -> object:
    data = GenericCreate(provider="generic", name="Second PBX")
    return await pbx_service.create_integration(db, w.site, data, now=NOW)


async def _update_integration(db: AsyncSession, w: World) -> object:
    return await pbx_service.update_integration(
        db, site_id=w.site.id, integration_id=w.integration_id, data=PbxIntegrationUpdate(name="N")
    )


async def _rotate_secret(db: AsyncSession, w: World) -> object:
    return await pbx_service.rotate_secret(db, site_id=w.site.id, integration_id=w.integration_id)


async def _retire_integration(db: AsyncSession, w: World) -> object:
    return await pbx_service.retire_integration(
        db, site_id=w.site.id, integration_id=w.integration_id, now=NOW
    )


async def _create_connector(db: AsyncSession, w: World) -> object:
    data = WebhookCreate(kind="webhook", name="Second", url="https://crm.example/two")
    return await crm_service.create_connector(db, w.site, data, now=NOW, outbound=OUTBOUND)


async def _update_connector(db: AsyncSession, w: World) -> object:
    return await crm_service.update_connector(
        db,
        site_id=w.site.id,
        connector_id=w.connector_id,
        data=CrmConnectorUpdate(name="Renamed"),
        outbound=OUTBOUND,
    )


async def _retire_connector(db: AsyncSession, w: World) -> object:
    return await crm_service.retire_connector(
        db, site_id=w.site.id, connector_id=w.connector_id, now=NOW
    )


WRITES: list[Write] = [
    _create_site,
    _update_site,
    _retire_site,
    _create_pool,
    _update_pool,
    _retire_pool,
    _create_static,
    _update_static,
    _retire_static,
    _create_integration,
    _update_integration,
    _rotate_secret,
    _retire_integration,
    _create_connector,
    _update_connector,
    _retire_connector,
]


@pytest.fixture
async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    async with sessionmaker() as db:
        world = await _world(db)
        await db.commit()
    return world


@pytest.mark.parametrize("write", WRITES, ids=lambda write: write.__name__.lstrip("_"))
async def test_every_configuration_write_renews_the_snapshots_once_committed(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, reader: Reader, write: Write
) -> None:
    async with sessionmaker() as db:
        await write(db, world)
        assert await reader.read() == 1
        await db.commit()

    assert await reader.read() == 2


@pytest.mark.parametrize("write", WRITES, ids=lambda write: write.__name__.lstrip("_"))
async def test_no_configuration_write_renews_the_snapshots_when_rolled_back(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, reader: Reader, write: Write
) -> None:
    async with sessionmaker() as db:
        await write(db, world)
        await db.rollback()

    assert await reader.read() == 1


async def test_what_a_committed_pool_change_leaves_is_read_at_once(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    # The snapshot a reader renews after the commit holds the change, not the old rows.
    cache: SnapshotCache[uuid.UUID, int] = SnapshotCache(ttl_s=3600, monotonic=lambda: 0.0)

    async def cooldown() -> int:
        async with sessionmaker() as db:
            pool = await db.get(Pool, world.pool_id)
            assert pool is not None
            return pool.cooldown_s

    before = await cache.get(world.pool_id, cooldown)
    async with sessionmaker() as db:
        await _update_pool(db, world)
        await db.commit()

    assert (before, await cache.get(world.pool_id, cooldown)) == (900, 60)


class SlowReader:
    """A snapshot whose loads wait for the test's word, on a clock the test moves."""

    def __init__(self) -> None:
        self.clock = 0.0
        self.cache: SnapshotCache[str, int] = SnapshotCache(ttl_s=5, monotonic=lambda: self.clock)
        self.loads = 0
        self.release = asyncio.Event()

    async def _load(self) -> int:
        self.loads += 1
        await self.release.wait()
        return self.loads

    async def read(self) -> int:
        return await self.cache.get("key", self._load)


async def test_requests_in_flight_share_one_load_of_a_missing_snapshot() -> None:
    slow = SlowReader()
    readers = [asyncio.create_task(slow.read()) for _ in range(20)]
    await asyncio.sleep(0.01)
    assert slow.loads == 1
    slow.release.set()
    assert await asyncio.gather(*readers) == [1] * 20
    assert slow.loads == 1


async def test_when_the_ttl_ends_one_request_renews_and_the_others_keep_the_last_copy() -> None:
    slow = SlowReader()
    slow.release.set()
    assert await slow.read() == 1
    slow.release.clear()
    slow.clock = 6.0  # past the TTL
    renewing = asyncio.create_task(slow.read())
    await asyncio.sleep(0.01)
    # Served at once from the copy a moment old, while the one renewal is in flight.
    assert [await slow.read() for _ in range(10)] == [1] * 10
    assert slow.loads == 2
    slow.release.set()
    assert await renewing == 2
    assert await slow.read() == 2


async def test_a_change_is_not_served_stale_while_its_renewal_is_in_flight(
    db: AsyncSession,
) -> None:
    slow = SlowReader()
    slow.release.set()
    assert await slow.read() == 1
    slow.release.clear()
    configuration_changed(db)
    await db.commit()
    readers = [asyncio.create_task(slow.read()) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert slow.loads == 2  # one renewal; the others wait for it, not for the old copy
    assert not any(r.done() for r in readers)
    slow.release.set()
    assert await asyncio.gather(*readers) == [2] * 5


async def test_when_the_request_renewing_is_cancelled_a_waiting_one_loads() -> None:
    slow = SlowReader()
    first = asyncio.create_task(slow.read())
    await asyncio.sleep(0.01)
    second = asyncio.create_task(slow.read())
    await asyncio.sleep(0.01)
    first.cancel()
    await asyncio.sleep(0.01)
    assert slow.loads == 2  # the waiting request took the renewal over
    slow.release.set()
    assert await second == 2
    with pytest.raises(asyncio.CancelledError):
        await first
