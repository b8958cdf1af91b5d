from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from app.deps import AdminOnly, AppSettings, DbSession, Now
from app.models import Site
from app.sites import service
from app.sites.schemas import SiteCreate, SiteList, SiteOut, SiteUpdate

router = APIRouter(prefix="/api/v1/sites", tags=["sites"], dependencies=[AdminOnly])


def _out(site: Site, public_url: str) -> SiteOut:
    return SiteOut(
        id=site.id,
        public_key=site.public_key,
        name=site.name,
        domains=site.domains,
        country=site.country,
        timezone=site.timezone,
        currency=site.currency,
        forms_enabled=site.forms_enabled,
        forms_consent_required=site.forms_consent_required,
        retention_months=site.retention_months,
        snippet=service.snippet_html(site, public_url=public_url),
        created_at=site.created_at,
        retired_at=site.retired_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SiteOut)
async def create_site(data: SiteCreate, db: DbSession, settings: AppSettings, now: Now) -> SiteOut:
    site = await service.create_site(db, data, now=now)
    return _out(site, settings.public_url)


@router.get("", response_model=SiteList)
async def list_sites(
    db: DbSession, settings: AppSettings, include_retired: bool = False
) -> SiteList:
    sites = await service.list_sites(db, include_retired=include_retired)
    return SiteList(items=[_out(site, settings.public_url) for site in sites])


@router.get("/{site_id}", response_model=SiteOut)
async def get_site(site_id: uuid.UUID, db: DbSession, settings: AppSettings) -> SiteOut:
    return _out(await service.get_site(db, site_id), settings.public_url)


@router.patch("/{site_id}", response_model=SiteOut)
async def update_site(
    site_id: uuid.UUID, data: SiteUpdate, db: DbSession, settings: AppSettings
) -> SiteOut:
    return _out(await service.update_site(db, site_id, data), settings.public_url)


@router.delete("/{site_id}", response_model=SiteOut)
async def retire_site(
    site_id: uuid.UUID, db: DbSession, settings: AppSettings, now: Now
) -> SiteOut:
    """Retires the site and frees its numbers; its calls and reports stay."""
    site = await service.retire_site(db, site_id, now=now)
    return _out(site, settings.public_url)
