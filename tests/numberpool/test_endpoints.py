"""GET /api/v1/sites/{site_id}/pools/{pool_id}/health."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from httpx import AsyncClient

from app.models import Pool, TrackingSession
from app.state import state_of
from numberpool import service
from tests.clock import ManualClock
from tests.factories import create_pool, create_site


async def start_session(app: FastAPI, pool: Pool, clock: ManualClock) -> str:
    async with state_of(app).sessionmaker() as db:
        visit = TrackingSession(
            id=uuid.uuid4(),
            site_id=pool.site_id,
            visitor_id=None,
            started_at=clock.now,
            last_seen_at=clock.now,
            landing_url="https://shop.example/",
            source="google",
            medium="organic",
            consent=True,
        )
        db.add(visit)
        await db.flush()
        served = await service.lease_for_session(
            db,
            state_of(app).pool_store,
            pool=pool,
            session_id=visit.id,
            visitor_id=None,
            source="google",
            medium="organic",
            campaign=None,
            now=clock.now,
        )
        await db.commit()
        return served.kind


async def test_pool_health(app: FastAPI, client: AsyncClient, clock: ManualClock) -> None:
    site = await create_site(client)
    created = await create_pool(client, site["id"], numbers=["+7 495 000-00-01"])
    async with state_of(app).sessionmaker() as db:
        pool = await db.get(Pool, uuid.UUID(created["id"]))
    assert pool is not None
    assert await start_session(app, pool, clock) == "dynamic"
    clock.advance(seconds=10)
    assert await start_session(app, pool, clock) == "target"
    clock.advance(seconds=10)
    response = await client.get(f"/api/v1/sites/{site['id']}/pools/{pool.id}/health")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "size": 1,
        "in_use": 1,
        "peak_in_use": 1,
        "sessions": 2,
        "fallback_sessions": 1,
        "fallback_share": 0.5,
        # Issue 13: sized for the busiest quarter hour (2 sessions in 15 minutes, 8 an hour),
        # no longer for the busiest hour's mean (2 an hour), which still shows alongside.
        "recommended_size": 8,
        "peak_15min_sessions": 2,
        "busiest_hour_sessions": 2,
        "recommended_size_hourly_mean": 4,
        "refused_sessions": {
            "not_on_site": 0,
            "not_a_browser": 0,
            "address_cap": 0,
            "network_cap": 0,
            "rate_cap": 0,
        },
    }
    clock.advance(hours=30)
    later = await client.get(f"/api/v1/sites/{site['id']}/pools/{pool.id}/health?hours=1")
    assert later.json()["sessions"] == 0
    assert later.json()["in_use"] == 0


async def test_pool_health_errors(client: AsyncClient, anonymous: AsyncClient) -> None:
    site = await create_site(client)
    other = await create_site(client, name="Other", domains=["other.example"])
    pool = await create_pool(client, site["id"])
    url = f"/api/v1/sites/{site['id']}/pools/{pool['id']}/health"
    assert (await anonymous.get(url)).status_code == 401
    assert (await client.get(f"{url}?hours=0")).status_code == 422
    elsewhere = await client.get(f"/api/v1/sites/{other['id']}/pools/{pool['id']}/health")
    assert elsewhere.status_code == 404
    assert "not found" in elsewhere.json()["detail"]
    missing = await client.get(f"/api/v1/sites/{site['id']}/pools/{uuid.uuid4()}/health")
    assert missing.status_code == 404
