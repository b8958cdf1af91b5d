"""Keyword-only factories that insert rows directly, for report and export arithmetic.

Reports read what calls, visits, deals and costs left in the tables; writing those rows by hand
makes each figure of a test traceable to a line here. (End-to-end tests go through the tracker
and the PBX webhooks instead.)
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AdCost, Call, Deal, PbxIntegration, Site, TrackingSession, Visitor
from crm_push import deals as deals_service
from crm_push.schemas import DealIn

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def include_analytics_routes(app: FastAPI) -> FastAPI:
    """Add the reports, costs and exports routers unless app.main already does."""
    from app.costs import endpoints as costs
    from app.exports import endpoints as exports
    from app.reports import endpoints as reports

    paths = {getattr(route, "path", None) for route in app.routes}
    for router in (reports.router, costs.router, exports.router):
        if not any(getattr(route, "path", None) in paths for route in router.routes):
            app.include_router(router)
    return app


async def create_site(
    db: AsyncSession, *, timezone: str = "Europe/Moscow", site_id: uuid.UUID | None = None
) -> Site:
    site = Site(
        id=site_id or uuid.uuid4(),
        public_key=f"cs_{uuid.uuid4().hex[:16]}",
        name="Shop",
        domains=["shop.example"],
        country="RU",
        timezone=timezone,
        created_at=EPOCH,
        retired_at=None,
    )
    db.add(site)
    await db.flush()
    return site


async def create_integration(db: AsyncSession, *, site: Site) -> PbxIntegration:
    integration = PbxIntegration(
        id=uuid.uuid4(),
        site_id=site.id,
        provider="generic",
        name=None,
        credentials={},
        settings={},
        created_at=EPOCH,
        retired_at=None,
    )
    db.add(integration)
    await db.flush()
    return integration


async def create_visitor(db: AsyncSession, *, site: Site) -> Visitor:
    visitor = Visitor(id=uuid.uuid4(), site_id=site.id, created_at=EPOCH, last_seen_at=EPOCH)
    db.add(visitor)
    await db.flush()
    return visitor


async def create_session(
    db: AsyncSession,
    *,
    site: Site,
    at: datetime,
    source: str,
    medium: str,
    visitor: Visitor | None = None,
    campaign: str | None = None,
    term: str | None = None,
    content: str | None = None,
    gclid: str | None = None,
    yclid: str | None = None,
    ym_client_id: str | None = None,
    landing_url: str = "https://shop.example/",
    referrer: str | None = None,
) -> TrackingSession:
    session = TrackingSession(
        id=uuid.uuid4(),
        site_id=site.id,
        visitor_id=visitor.id if visitor else None,
        started_at=at,
        last_seen_at=at,
        ended_at=None,
        landing_url=landing_url,
        referrer=referrer,
        source=source,
        medium=medium,
        campaign=campaign,
        term=term,
        content=content,
        gclid=gclid,
        yclid=yclid,
        fbclid=None,
        ga_client_id=None,
        ym_client_id=ym_client_id,
        user_agent=None,
        consent=visitor is not None,
        is_bot=False,
    )
    db.add(session)
    await db.flush()
    return session


async def create_call(
    db: AsyncSession,
    *,
    site: Site,
    integration: PbxIntegration,
    at: datetime,
    session: TrackingSession | None = None,
    method: str | None = None,
    source: str | None = None,
    medium: str | None = None,
    campaign: str | None = None,
    caller: str = "+79001234567",
    called: str = "+74950000001",
    status: str = "ended",
    outcome: str | None = "answered",
    duration: int | None = 60,
    talk_duration: int | None = 50,
    first_time_caller: bool = True,
    possible_spam: bool = False,
    confidence: float = 0.95,
    recording_url: str | None = None,
) -> Call:
    """A call; with `session` its attribution snapshot is that visit's (method dynamic)."""
    call = Call(
        id=uuid.uuid4(),
        site_id=site.id,
        integration_id=integration.id,
        provider_call_id=f"call-{uuid.uuid4().hex[:10]}",
        tracking_number_id=None,
        caller=caller,
        called=called,
        status=status,
        outcome=outcome if status == "ended" else None,
        started_at=at,
        answered_at=at if outcome == "answered" else None,
        ended_at=at if status == "ended" else None,
        duration=duration,
        talk_duration=talk_duration,
        recording_url=recording_url,
        last_sequence=None,
        first_time_caller=first_time_caller,
        possible_spam=possible_spam,
        attribution_method=method or ("dynamic" if session else "none"),
        confidence=confidence if (session or method not in (None, "none")) else 0.0,
        confidence_reason="test",
        attribution_conflict=False,
        session_id=session.id if session else None,
        visitor_id=session.visitor_id if session else None,
        source=session.source if session else source,
        medium=session.medium if session else medium,
        campaign=session.campaign if session else campaign,
        term=session.term if session else None,
        content=session.content if session else None,
        landing_url=session.landing_url if session else None,
        referrer=session.referrer if session else None,
        gclid=session.gclid if session else None,
        yclid=session.yclid if session else None,
        created_at=at,
        updated_at=at,
    )
    db.add(call)
    await db.flush()
    return call


async def create_deal(
    db: AsyncSession,
    *,
    site: Site,
    call: Call,
    revenue: str,
    status: str = "won",
    currency: str = "RUB",
) -> Deal:
    deal = Deal(
        id=uuid.uuid4(),
        site_id=site.id,
        call_id=call.id,
        connector_id=None,
        external_id=f"deal-{uuid.uuid4().hex[:8]}",
        status=status,
        revenue=Decimal(revenue),
        currency=currency,
        created_at=call.started_at,
        updated_at=call.started_at,
        closed_at=call.started_at if status != "open" else None,
    )
    db.add(deal)
    await db.flush()
    return deal


async def create_cost(
    db: AsyncSession,
    *,
    site: Site,
    day: date,
    source: str,
    cost: str,
    medium: str = "",
    campaign: str = "",
    currency: str = "RUB",
    term: str = "",
) -> AdCost:
    row = AdCost(
        id=uuid.uuid4(),
        site_id=site.id,
        day=day,
        source=source,
        medium=medium,
        campaign=campaign,
        term=term,
        cost=Decimal(cost),
        currency=currency,
        created_at=EPOCH,
    )
    db.add(row)
    await db.flush()
    return row


async def record_deal(
    db: AsyncSession,
    *,
    site: Site,
    call_id: uuid.UUID,
    revenue: Decimal,
    now: datetime,
    external_id: str | None = None,
    won: bool = True,
) -> None:
    """A CRM's deal for the call, through the deal service (which notes the call for the
    reports' rollups), not as a bare row."""
    await deals_service.record_deal(
        db,
        site=site,
        now=now,
        data=DealIn(
            call_id=call_id,
            external_id=external_id or f"crm-{call_id}",
            status="won" if won else "lost",
            revenue=revenue,
            currency="RUB",
        ),
    )
