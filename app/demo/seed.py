"""The demo site `callsource demo` creates on first run: pool, static numbers, PBX integration,
and a webhook CRM connector that delivers leads to the demo CRM inbox."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings, get_settings
from app.kit.outbound import OutboundPolicy
from app.models import Site
from app.numbers import service as numbers_service
from app.numbers.schemas import PoolCreate, StaticNumberCreate
from app.sites import repository as sites_repository
from app.sites import service as sites_service
from app.sites.schemas import SiteCreate
from crm_push import service as crm_service
from crm_push.schemas import WebhookCreate
from pbx_webhooks import service as pbx_service
from pbx_webhooks.schemas import GenericCreate

DEMO_SITE_NAME = "Demo shop"
DEMO_TARGET = "+7 495 123-45-67"
DEMO_POOL = [f"+7 495 000-00-{n:02d}" for n in range(1, 6)]
DEMO_SOURCE_NUMBER = ("+7 495 000-01-01", "yandex", "organic")
DEMO_OFFLINE_NUMBER = ("+7 495 000-02-01", "spring-flyers")
# The demo CRM inbox (app/demo/endpoints.py) receives leads here.
DEMO_INBOX_PATH = "/demo/crm-inbox/hook"


def own_address(public_url: str) -> str:
    """`host:port` of the demo's own server, where its CRM inbox listens."""
    parts = urlsplit(public_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or "127.0.0.1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allow_own_inbox(settings: Settings) -> Settings:
    """The demo's settings with its own address (and only that port) on the outbound
    allow-list, so the CRM worker may deliver to the demo inbox on loopback."""
    entries = [e for e in settings.outbound_allow.split(",") if e.strip()]
    entries.append(own_address(settings.public_url))
    return settings.model_copy(update={"outbound_allow": ",".join(entries)})


async def find_demo_site(db: AsyncSession) -> Site | None:
    return await sites_repository.get_by_name(db, DEMO_SITE_NAME)


async def ensure_demo_crm(
    db: AsyncSession, site: Site, *, now: datetime, public_url: str | None = None
) -> bool:
    """The webhook connector to the demo CRM inbox, created unless there is one; True if new.

    Separate from the site so that a demo database made before the inbox existed gets it too.
    """
    for connector in await crm_service.list_connectors(db, site_id=site.id):
        if connector.kind == "webhook" and str(connector.config.get("url", "")).endswith(
            DEMO_INBOX_PATH
        ):
            return False
    base = public_url or get_settings().public_url
    data = WebhookCreate(kind="webhook", name="Demo CRM inbox", url=base + DEMO_INBOX_PATH)
    # The inbox is the demo's own address: allowed for this connector whatever the list says.
    outbound = OutboundPolicy.parse(own_address(base))
    await crm_service.create_connector(db, site, data, now=now, outbound=outbound)
    return True


async def ensure_demo_site(
    db: AsyncSession, *, now: datetime, public_url: str | None = None
) -> tuple[Site, bool]:
    """The demo site, created with its numbers the first time; (site, created)."""
    existing = await find_demo_site(db)
    if existing is not None:
        await ensure_demo_crm(db, existing, now=now, public_url=public_url)
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
    await ensure_demo_crm(db, site, now=now, public_url=public_url)
    return site, True
