from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from app.deps import AdminOnly, DbSession, Now
from app.models import CrmConnector
from app.sites import service as sites_service
from crm_push import service
from crm_push.schemas import (
    CrmConnectorCreate,
    CrmConnectorCreated,
    CrmConnectorList,
    CrmConnectorOut,
    CrmConnectorUpdate,
)

admin_router = APIRouter(
    prefix="/api/v1/sites/{site_id}/crm", tags=["crm connectors"], dependencies=[AdminOnly]
)


def _out(connector: CrmConnector) -> CrmConnectorOut:
    return CrmConnectorOut.model_validate(connector)


@admin_router.post("", status_code=status.HTTP_201_CREATED, response_model=CrmConnectorCreated)
async def create_connector(
    site_id: uuid.UUID, data: CrmConnectorCreate, db: DbSession, now: Now
) -> CrmConnectorCreated:
    site = await sites_service.get_active_site(db, site_id)
    connector = await service.create_connector(db, site, data, now=now)
    secret = connector.credentials.get("secret") if connector.kind == "webhook" else None
    return CrmConnectorCreated(**_out(connector).model_dump(), secret=secret)


@admin_router.get("", response_model=CrmConnectorList)
async def list_connectors(
    site_id: uuid.UUID, db: DbSession, include_retired: bool = False
) -> CrmConnectorList:
    await sites_service.get_site(db, site_id)
    rows = await service.list_connectors(db, site_id=site_id, include_retired=include_retired)
    return CrmConnectorList(items=[_out(row) for row in rows])


@admin_router.get("/{connector_id}", response_model=CrmConnectorOut)
async def get_connector(
    site_id: uuid.UUID, connector_id: uuid.UUID, db: DbSession
) -> CrmConnectorOut:
    return _out(await service.get_connector(db, site_id=site_id, connector_id=connector_id))


@admin_router.patch("/{connector_id}", response_model=CrmConnectorOut)
async def update_connector(
    site_id: uuid.UUID, connector_id: uuid.UUID, data: CrmConnectorUpdate, db: DbSession
) -> CrmConnectorOut:
    row = await service.update_connector(db, site_id=site_id, connector_id=connector_id, data=data)
    return _out(row)


@admin_router.delete("/{connector_id}", response_model=CrmConnectorOut)
async def retire_connector(
    site_id: uuid.UUID, connector_id: uuid.UUID, db: DbSession, now: Now
) -> CrmConnectorOut:
    row = await service.retire_connector(db, site_id=site_id, connector_id=connector_id, now=now)
    return _out(row)
