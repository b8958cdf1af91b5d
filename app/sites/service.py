"""Sites: create, read, update, retire. Services never commit; the request boundary does."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.crud import copy_given
from app.exceptions import NotFound
from app.kit.currencies import country_currency
from app.kit.secrets import new_public_key
from app.models import Site
from app.sites import repository
from app.sites.schemas import SiteCreate, SiteUpdate
from app.snapshots import configuration_changed


def snippet_html(site: Site, *, public_url: str) -> str:
    """The one tag a site owner pastes before </body>."""
    return f'<script async src="{public_url}/t/tracker.js" data-site="{site.public_key}"></script>'


async def create_site(db: AsyncSession, data: SiteCreate, *, now: datetime) -> Site:
    site = Site(
        id=uuid.uuid4(),
        public_key=new_public_key(),
        name=data.name,
        domains=data.domains,
        country=data.country,
        timezone=data.timezone,
        currency=data.currency or country_currency(data.country),
        forms_enabled=data.forms_enabled,
        forms_consent_required=data.forms_consent_required,
        retention_months=data.retention_months,
        created_at=now,
        retired_at=None,
    )
    db.add(site)
    configuration_changed(db)
    await db.flush()
    return site


async def get_site(db: AsyncSession, site_id: uuid.UUID, *, include_retired: bool = True) -> Site:
    site = await repository.get(db, site_id)
    if site is None or (site.retired_at is not None and not include_retired):
        raise NotFound(f"site {site_id} not found")
    return site


async def get_active_site(db: AsyncSession, site_id: uuid.UUID) -> Site:
    """A site that can still be changed: a retired site is read-only."""
    return await get_site(db, site_id, include_retired=False)


async def list_sites(db: AsyncSession, *, include_retired: bool = False) -> list[Site]:
    return await repository.list_sites(db, include_retired=include_retired)


async def update_site(db: AsyncSession, site_id: uuid.UUID, data: SiteUpdate) -> Site:
    site = await get_active_site(db, site_id)
    # Stored numbers stay in E.164 whatever the country: it only changes how new input is read.
    copy_given(
        data,
        site,
        (
            "name",
            "domains",
            "country",
            "timezone",
            "currency",
            "forms_enabled",
            "forms_consent_required",
            "retention_months",
        ),
    )
    configuration_changed(db)
    await db.flush()
    return site


async def retire_site(db: AsyncSession, site_id: uuid.UUID, *, now: datetime) -> Site:
    """Retires the site and frees its numbers and pools (again, if a retry finds some live)."""
    site = await get_site(db, site_id)
    configuration_changed(db)  # the site, or only the numbers a retry finds still live
    if site.retired_at is None:
        site.retired_at = now
        await db.flush()
    await repository.retire_numbers_of_site(db, site_id=site.id, now=now)
    return site
