from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from app.deps import AdminOnly, AppSettings, DbSession, Now
from app.models import PbxIntegration
from app.sites import service as sites_service
from pbx_webhooks import service
from pbx_webhooks.schemas import (
    PbxIntegrationCreate,
    PbxIntegrationCreated,
    PbxIntegrationList,
    PbxIntegrationOut,
    PbxIntegrationUpdate,
    SecretRotated,
)

admin_router = APIRouter(
    prefix="/api/v1/sites/{site_id}/pbx", tags=["pbx integrations"], dependencies=[AdminOnly]
)


def _out(integration: PbxIntegration, public_url: str) -> PbxIntegrationOut:
    return PbxIntegrationOut(
        id=integration.id,
        site_id=integration.site_id,
        provider=integration.provider,
        name=integration.name,
        webhook_url=service.webhook_url(integration, public_url=public_url),
        settings=integration.settings,
        created_at=integration.created_at,
        retired_at=integration.retired_at,
    )


@admin_router.post("", status_code=status.HTTP_201_CREATED, response_model=PbxIntegrationCreated)
async def create_integration(
    site_id: uuid.UUID, data: PbxIntegrationCreate, db: DbSession, settings: AppSettings, now: Now
) -> PbxIntegrationCreated:
    site = await sites_service.get_active_site(db, site_id)
    integration = await service.create_integration(db, site, data, now=now)
    out = _out(integration, settings.public_url)
    secret = integration.credentials.get("secret") if integration.provider == "generic" else None
    return PbxIntegrationCreated(**out.model_dump(), secret=secret)


@admin_router.get("", response_model=PbxIntegrationList)
async def list_integrations(
    site_id: uuid.UUID, db: DbSession, settings: AppSettings, include_retired: bool = False
) -> PbxIntegrationList:
    await sites_service.get_site(db, site_id)
    rows = await service.list_integrations(db, site_id=site_id, include_retired=include_retired)
    return PbxIntegrationList(items=[_out(row, settings.public_url) for row in rows])


@admin_router.get("/{integration_id}", response_model=PbxIntegrationOut)
async def get_integration(
    site_id: uuid.UUID, integration_id: uuid.UUID, db: DbSession, settings: AppSettings
) -> PbxIntegrationOut:
    row = await service.get_integration(db, site_id=site_id, integration_id=integration_id)
    return _out(row, settings.public_url)


@admin_router.patch("/{integration_id}", response_model=PbxIntegrationOut)
async def update_integration(
    site_id: uuid.UUID,
    integration_id: uuid.UUID,
    data: PbxIntegrationUpdate,
    db: DbSession,
    settings: AppSettings,
) -> PbxIntegrationOut:
    row = await service.update_integration(
        db, site_id=site_id, integration_id=integration_id, data=data
    )
    return _out(row, settings.public_url)


@admin_router.post("/{integration_id}/secret", response_model=SecretRotated)
async def rotate_secret(
    site_id: uuid.UUID, integration_id: uuid.UUID, db: DbSession
) -> SecretRotated:
    row, secret = await service.rotate_secret(db, site_id=site_id, integration_id=integration_id)
    return SecretRotated(id=row.id, secret=secret)


@admin_router.delete("/{integration_id}", response_model=PbxIntegrationOut)
async def retire_integration(
    site_id: uuid.UUID, integration_id: uuid.UUID, db: DbSession, settings: AppSettings, now: Now
) -> PbxIntegrationOut:
    row = await service.retire_integration(
        db, site_id=site_id, integration_id=integration_id, now=now
    )
    return _out(row, settings.public_url)
