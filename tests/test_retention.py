"""A site's retention (app.retention): visits, calls and form leads past it go with everything
that hangs off them; newer ones and the reports' totals stay. Visits and calls go through the
tracker and the PBX webhook, as in production, so the lease log and raw events are real."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import (
    Call,
    CallCredit,
    CallNote,
    CallTag,
    CrmConnector,
    Deal,
    DeliveryAttempt,
    FormLead,
    NumberAssignment,
    OutboxDelivery,
    PbxEvent,
    Site,
    TrackingSession,
)
from app.reports import rollups
from app.reports import service as reports_service
from app.reports.attribution_models import Model
from app.retention import apply_retention, cutoff
from tests.calls.test_attribution import World, pool_number, visit_and_call
from tests.clock import ManualClock
from tests.reports.rows import record_deal

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
OLD = datetime(2025, 10, 15, 9, 0, tzinfo=UTC)  # before 2025-12-01, the cutoff of 12 months
KEPT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_the_cutoff_is_the_start_of_a_local_month() -> None:
    assert cutoff("Europe/Moscow", 12, now=NOW) == datetime(2025, 11, 30, 21, 0, tzinfo=UTC)
    assert cutoff("Europe/Moscow", 1, now=NOW) == datetime(2026, 10, 31, 21, 0, tzinfo=UTC)
    # Early on the 1st in Moscow it is still the previous month in UTC: the site's calendar.
    first = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
    assert cutoff("Europe/Moscow", 3, now=first) == datetime(2026, 8, 31, 21, 0, tzinfo=UTC)
    assert cutoff("UTC", 14, now=NOW) == datetime(2025, 10, 1, tzinfo=UTC)


async def _call_of(db: AsyncSession, session_id: uuid.UUID) -> Call:
    return (await db.execute(select(Call).where(Call.session_id == session_id))).scalar_one()


async def _hang_things_on(db: AsyncSession, site: Site, call: Call, *, at: datetime) -> None:
    """A deal, a note, a tag and a CRM delivery with an attempt, as the dashboard and the
    worker leave them."""
    await record_deal(db, site=site, call_id=call.id, revenue=Decimal("1000.00"), now=at)
    db.add(
        CallNote(
            id=uuid.uuid4(),
            call_id=call.id,
            author_id=None,
            author_email="a@shop.example",
            body="called back",
            created_at=at,
        )
    )
    db.add(CallTag(call_id=call.id, tag="vip", site_id=site.id, created_at=at))
    connector = CrmConnector(
        id=uuid.uuid4(),
        site_id=site.id,
        kind="webhook",
        name=None,
        config={"url": "https://crm.example/hook"},
        credentials={},
        created_at=at,
        retired_at=None,
    )
    db.add(connector)
    await db.flush()
    delivery = OutboxDelivery(
        id=uuid.uuid4(),
        connector_id=connector.id,
        call_id=call.id,
        event="call.attributed",
        idempotency_key=uuid.uuid4().hex,
        status="sent",
        next_attempt_at=at,
        created_at=at,
        updated_at=at,
    )
    db.add(delivery)
    await db.flush()
    db.add(
        DeliveryAttempt(
            id=uuid.uuid4(),
            delivery_id=delivery.id,
            attempted_at=at,
            status_code=200,
            outcome="sent",
            response_excerpt=None,
            duration_ms=9,
        )
    )
    db.add(
        FormLead(
            id=uuid.uuid4(),
            site_id=site.id,
            session_id=call.session_id,
            visitor_id=None,
            url="https://shop.example/",
            form_id=None,
            name="Anna",
            phone="+79001112233",
            email=None,
            fields={},
            source="yandex",
            medium="cpc",
            campaign=None,
            term=None,
            content=None,
            landing_url=None,
            referrer=None,
            gclid=None,
            yclid=None,
            created_at=at,
        )
    )
    await db.flush()


async def _count(db: AsyncSession, model: Any, *where: Any) -> int:
    return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_retention_deletes_what_is_past_it_and_keeps_the_rest(
    anonymous: AsyncClient,
    client: AsyncClient,
    clock: ManualClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock.now = OLD - timedelta(days=30)  # the site and its numbers exist before the old call
    world = await World(anonymous, client, clock).build()
    site_id = uuid.UUID(world.site["id"])
    old_visit = await visit_and_call(world, OLD, "old-call")
    kept_visit = await visit_and_call(world, KEPT, "kept-call")
    async with sessionmaker() as db:
        site = await db.get(Site, site_id)
        assert site is not None
        old_call, kept_call = await _call_of(db, old_visit), await _call_of(db, kept_visit)
        await _hang_things_on(db, site, old_call, at=OLD + timedelta(hours=1))
        await _hang_things_on(db, site, kept_call, at=KEPT + timedelta(hours=1))
        await db.commit()
    # The reports' rows, built as the worker does, outlive the raw ones.
    await rollups.keep_rollups(sessionmaker, None, NOW, None)  # type: ignore[arg-type]

    # Nothing goes while the site keeps everything (the default).
    assert await apply_retention(sessionmaker, None, NOW, None) == 0  # type: ignore[arg-type]
    response = await client.patch(f"/api/v1/sites/{site_id}", json={"retention_months": 12})
    assert response.status_code == 200, response.text
    assert response.json()["retention_months"] == 12

    deleted = await apply_retention(sessionmaker, None, NOW, None)  # type: ignore[arg-type]
    assert deleted == 3  # the old call, its form lead and its visit

    async with sessionmaker() as db:
        assert await db.get(Call, old_call.id) is None
        assert await db.get(TrackingSession, old_visit) is None
        for model in (Deal, CallNote, CallTag, OutboxDelivery, PbxEvent):
            assert await _count(db, model, model.call_id == old_call.id) == 0, model
        assert await _count(db, NumberAssignment, NumberAssignment.session_id == old_visit) == 0
        assert await _count(db, FormLead, FormLead.created_at < KEPT) == 0
        assert await _count(db, DeliveryAttempt) == 1  # the kept call's
        # The kept call and everything of it stay.
        assert await db.get(Call, kept_call.id) is not None
        assert await db.get(TrackingSession, kept_visit) is not None
        for model in (Deal, CallNote, CallTag, OutboxDelivery, PbxEvent):
            assert await _count(db, model, model.call_id == kept_call.id) >= 1, model
        assert await _count(db, NumberAssignment, NumberAssignment.session_id == kept_visit) == 1
        # The old month's report keeps its call and revenue, from the rollups.
        assert await _count(db, CallCredit, CallCredit.call_id == old_call.id) == len(Model)
        site = await db.get(Site, site_id)
        assert site is not None
        report = await reports_service.sources_report(
            db,
            site=site,
            since=datetime(2025, 10, 1, tzinfo=UTC),
            until=datetime(2025, 11, 1, tzinfo=UTC),
        )
        assert report.totals.calls == 1
        assert report.totals.revenue == 1000.0
        assert report.totals.sessions == 1
    # Done: the next round finds nothing.
    assert await apply_retention(sessionmaker, None, NOW, None) == 0  # type: ignore[arg-type]


async def test_a_kept_call_from_a_deleted_visit_keeps_its_source(
    anonymous: AsyncClient,
    client: AsyncClient,
    clock: ManualClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock.now = datetime(2025, 11, 1, tzinfo=UTC)
    world = await World(anonymous, client, clock).build()
    site_id = uuid.UUID(world.site["id"])
    # A visit on 30 November (Moscow), the call the next morning: the first month kept.
    clock.now = datetime(2025, 11, 30, 20, 50, tzinfo=UTC)
    answer = await world.visit()
    number = pool_number(answer)
    clock.now = datetime(2025, 11, 30, 21, 5, tzinfo=UTC)
    assert (await world.hook("call.started", "late", called=number)).status_code == 200
    response = await client.patch(f"/api/v1/sites/{site_id}", json={"retention_months": 12})
    assert response.status_code == 200

    assert await apply_retention(sessionmaker, None, NOW, None) == 1  # type: ignore[arg-type]
    async with sessionmaker() as db:
        call = (await db.execute(select(Call).where(Call.site_id == site_id))).scalar_one()
        assert call.session_id is None
        assert (call.source, call.medium, call.attribution_method) == ("yandex", "cpc", "dynamic")


async def test_retention_is_checked_and_set_from_the_api(client: AsyncClient) -> None:
    site = (
        await client.post(
            "/api/v1/sites", json={"name": "Shop", "domains": ["shop.example"], "country": "RU"}
        )
    ).json()
    assert site["retention_months"] == 0
    for bad in (-1, 121, "soon"):
        response = await client.patch(f"/api/v1/sites/{site['id']}", json={"retention_months": bad})
        assert response.status_code == 422, bad
        assert "retention_months" in response.text
    response = await client.patch(f"/api/v1/sites/{site['id']}", json={"retention_months": 36})
    assert response.json()["retention_months"] == 36
