"""The tracker's in-process snapshot of a site: admin changes show on the very next visit, and
changes made by another process are picked up once the snapshot is older than its TTL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

from httpx import AsyncClient
from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.models import TargetNumber, TrackingNumber
from app.snapshots import configuration_changed
from app.tracking.site_config import SiteConfigCache
from tests.factories import create_site
from tests.tracking.test_endpoints import TARGET, start


async def _static(client: AsyncClient, site: dict[str, Any], number: str, source: str) -> Any:
    created = await client.post(
        f"/api/v1/sites/{site['id']}/static-numbers",
        json={"number": number, "kind": "source", "target_number": TARGET, "source": source},
    )
    assert created.status_code == 201, created.text
    return created.json()


def _shown(answer: Any) -> list[str]:
    return [n["number"] for n in answer.json()["numbers"]]


async def test_a_static_number_added_through_the_api_shows_on_the_next_visit(
    client: AsyncClient, anonymous: AsyncClient
) -> None:
    site = await create_site(client)
    await _static(client, site, "+7 495 000-01-01", "google")
    before = await start(anonymous, site, url="https://shop.example/?utm_source=yandex")

    await _static(client, site, "+7 495 000-01-02", "yandex")
    after = await start(anonymous, site, url="https://shop.example/?utm_source=yandex")

    assert _shown(before) == [TARGET]
    assert _shown(after) == ["+74950000102"]


async def test_a_retired_site_stops_answering_at_once(
    client: AsyncClient, anonymous: AsyncClient
) -> None:
    site = await create_site(client)
    assert (await start(anonymous, site)).status_code == 200

    assert (await client.delete(f"/api/v1/sites/{site['id']}")).status_code == 200

    assert (await start(anonymous, site)).status_code == 404


async def test_a_bulk_update_also_drops_the_snapshot(
    client: AsyncClient, anonymous: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    site = await create_site(client)
    static = await _static(client, site, "+7 495 000-01-01", "google")
    url = "https://shop.example/?utm_source=google"
    assert _shown(await start(anonymous, site, url=url)) == ["+74950000101"]

    async with sessionmaker() as db:
        await db.execute(
            update(TrackingNumber)
            .where(TrackingNumber.id == uuid.UUID(static["id"]))
            .values(retired_at=TrackingNumber.created_at)
        )
        configuration_changed(db)
        await db.commit()

    assert _shown(await start(anonymous, site, url=url)) == [TARGET]


async def test_a_change_this_process_did_not_see_is_picked_up_after_the_ttl(
    client: AsyncClient, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    site = await create_site(client)
    seconds = [100.0]
    cache = SiteConfigCache(ttl_s=5, monotonic=lambda: seconds[0])
    async with sessionmaker() as db:
        first = await cache.get(db, site["public_key"])
    # Another process adds a rule: a plain connection, outside any ORM session of this one.
    async with engine.begin() as connection:
        target_id = await connection.scalar(
            select(TargetNumber.id).where(TargetNumber.site_id == uuid.UUID(site["id"]))
        )
        await connection.execute(
            insert(cast(Table, TrackingNumber.__table__)),
            {
                "id": uuid.uuid4(),
                "site_id": uuid.UUID(site["id"]),
                "number": "+74950000101",
                "kind": "source",
                "pool_id": None,
                "target_number_id": target_id,
                "source": "google",
                "medium": None,
                "campaign": None,
                "created_at": datetime.now(UTC),
                "retired_at": None,
            },
        )

    seconds[0] = 104.0
    async with sessionmaker() as db:
        within_ttl = await cache.get(db, site["public_key"])
    seconds[0] = 105.5
    async with sessionmaker() as db:
        after_ttl = await cache.get(db, site["public_key"])

    assert first is not None
    assert within_ttl is not None
    assert after_ttl is not None
    assert first.source_rules == () == within_ttl.source_rules
    assert [r.number for r in after_ttl.source_rules] == ["+74950000101"]
