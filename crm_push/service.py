"""CRM connectors: where a site's calls go, with credentials kept write-only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from app.exceptions import NotFound
from app.kit.secrets import new_webhook_secret
from app.models import CrmConnector, Site
from crm_push import repository
from crm_push.schemas import (
    AmoCrmCreate,
    Bitrix24Create,
    CrmConnectorCreate,
    CrmConnectorUpdate,
    WebhookCreate,
)


def _config_and_credentials(data: CrmConnectorCreate) -> tuple[dict[str, Any], dict[str, Any]]:
    match data:
        case AmoCrmCreate():
            config = {"base_url": data.base_url, "pipeline_id": data.pipeline_id}
            return config, {"token": data.token.get_secret_value()}
        case Bitrix24Create():
            url = data.webhook_url.get_secret_value()
            parts = urlsplit(url)
            # Only the portal is safe to show: the path carries the webhook's secret.
            return {"portal": f"{parts.scheme}://{parts.netloc}"}, {"webhook_url": url}
        case WebhookCreate():
            return {"url": data.url}, {"secret": new_webhook_secret()}


async def create_connector(
    db: AsyncSession, site: Site, data: CrmConnectorCreate, *, now: datetime
) -> CrmConnector:
    config, credentials = _config_and_credentials(data)
    connector = CrmConnector(
        id=uuid.uuid4(),
        site_id=site.id,
        kind=data.kind,
        name=data.name,
        config=config,
        credentials=credentials,
        created_at=now,
        retired_at=None,
    )
    db.add(connector)
    await db.flush()
    return connector


async def get_connector(
    db: AsyncSession, *, site_id: uuid.UUID, connector_id: uuid.UUID
) -> CrmConnector:
    connector = await db.get(CrmConnector, connector_id)
    if connector is None or connector.site_id != site_id:
        raise NotFound(f"CRM connector {connector_id} not found on site {site_id}")
    return connector


async def list_connectors(
    db: AsyncSession, *, site_id: uuid.UUID, include_retired: bool = False
) -> list[CrmConnector]:
    return await repository.connectors(db, site_id=site_id, include_retired=include_retired)


async def update_connector(
    db: AsyncSession, *, site_id: uuid.UUID, connector_id: uuid.UUID, data: CrmConnectorUpdate
) -> CrmConnector:
    connector = await get_connector(db, site_id=site_id, connector_id=connector_id)
    if data.name is not None:
        connector.name = data.name
    await db.flush()
    return connector


async def retire_connector(
    db: AsyncSession, *, site_id: uuid.UUID, connector_id: uuid.UUID, now: datetime
) -> CrmConnector:
    connector = await get_connector(db, site_id=site_id, connector_id=connector_id)
    if connector.retired_at is None:
        connector.retired_at = now
        await db.flush()
    return connector
