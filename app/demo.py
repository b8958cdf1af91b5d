"""The demo site `callsource demo` creates on first run: pool, static numbers, PBX integration."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Site
from app.numbers import service as numbers_service
from app.numbers.schemas import PoolCreate, StaticNumberCreate
from app.sites import repository as sites_repository
from app.sites import service as sites_service
from app.sites.schemas import SiteCreate
from pbx_webhooks import service as pbx_service
from pbx_webhooks.schemas import GenericCreate

DEMO_SITE_NAME = "Demo shop"
DEMO_TARGET = "+7 495 123-45-67"
DEMO_POOL = [f"+7 495 000-00-{n:02d}" for n in range(1, 6)]
DEMO_SOURCE_NUMBER = ("+7 495 000-01-01", "yandex", "organic")
DEMO_OFFLINE_NUMBER = ("+7 495 000-02-01", "spring-flyers")


async def ensure_demo_site(db: AsyncSession, *, now: datetime) -> tuple[Site, bool]:
    """The demo site, created with its numbers the first time; (site, created)."""
    existing = await sites_repository.get_by_name(db, DEMO_SITE_NAME)
    if existing is not None:
        return existing, False
    site = await sites_service.create_site(
        db,
        SiteCreate(
            name=DEMO_SITE_NAME,
            domains=["127.0.0.1", "localhost"],
            country="RU",
            timezone="Europe/Moscow",
        ),
        now=now,
    )
    await numbers_service.create_pool(
        db, site, PoolCreate(target_number=DEMO_TARGET, numbers=DEMO_POOL), now=now
    )
    number, source, medium = DEMO_SOURCE_NUMBER
    await numbers_service.create_static_number(
        db,
        site,
        StaticNumberCreate(
            number=number, kind="source", target_number=DEMO_TARGET, source=source, medium=medium
        ),
        now=now,
    )
    offline, campaign = DEMO_OFFLINE_NUMBER
    await numbers_service.create_static_number(
        db, site, StaticNumberCreate(number=offline, kind="offline", campaign=campaign), now=now
    )
    await pbx_service.create_integration(
        db, site, GenericCreate(provider="generic", name="Demo PBX"), now=now
    )
    return site, True
