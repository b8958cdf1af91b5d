"""PBX integrations: what each provider needs to verify its webhooks, kept write-only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.exceptions import Conflict
from app.kit.secrets import new_webhook_secret
from app.models import PbxIntegration, Site
from pbx_webhooks import repository
from pbx_webhooks.schemas import (
    GenericCreate,
    MangoCreate,
    PbxIntegrationCreate,
    PbxIntegrationUpdate,
    TelnyxCreate,
    TwilioCreate,
    ZadarmaCreate,
)


def webhook_url(integration: PbxIntegration, *, public_url: str) -> str:
    return f"{public_url}/hooks/pbx/{integration.id}"


def _credentials_and_settings(data: PbxIntegrationCreate) -> tuple[dict[str, Any], dict[str, Any]]:
    match data:
        case GenericCreate():
            return {"secret": new_webhook_secret()}, {}
        case TwilioCreate():
            return {"auth_token": data.auth_token.get_secret_value()}, {}
        case ZadarmaCreate():
            return {"api_secret": data.api_secret.get_secret_value()}, {"timezone": data.timezone}
        case MangoCreate():
            return {
                "api_key": data.api_key.get_secret_value(),
                "api_salt": data.api_salt.get_secret_value(),
            }, {}
        case TelnyxCreate():
            return {"public_key": data.public_key.get_secret_value()}, {}


async def create_integration(
    db: AsyncSession, site: Site, data: PbxIntegrationCreate, *, now: datetime
) -> PbxIntegration:
    credentials, settings = _credentials_and_settings(data)
    return await repository.INTEGRATIONS.create(
        db,
        site_id=site.id,
        now=now,
        provider=data.provider,
        name=data.name,
        credentials=credentials,
        settings=settings,
    )


async def get_integration(
    db: AsyncSession, *, site_id: uuid.UUID, integration_id: uuid.UUID
) -> PbxIntegration:
    return await repository.INTEGRATIONS.get_on_site_or_404(
        db, site_id=site_id, row_id=integration_id
    )


async def list_integrations(
    db: AsyncSession, *, site_id: uuid.UUID, include_retired: bool = False
) -> list[PbxIntegration]:
    return await repository.INTEGRATIONS.list_on_site(
        db, site_id=site_id, include_retired=include_retired
    )


async def update_integration(
    db: AsyncSession, *, site_id: uuid.UUID, integration_id: uuid.UUID, data: PbxIntegrationUpdate
) -> PbxIntegration:
    integration = await get_integration(db, site_id=site_id, integration_id=integration_id)
    return await repository.INTEGRATIONS.update(db, integration, data, fields=("name",))


async def rotate_secret(
    db: AsyncSession, *, site_id: uuid.UUID, integration_id: uuid.UUID
) -> tuple[PbxIntegration, str]:
    """A new signing secret for a generic integration; the old one stops working at once."""
    integration = await get_integration(db, site_id=site_id, integration_id=integration_id)
    if integration.provider != "generic":
        raise Conflict(
            f"only generic integrations have a secret of ours; update the {integration.provider} "
            "credentials by creating a new integration"
        )
    secret = new_webhook_secret()
    integration.credentials = {"secret": secret}
    return await repository.INTEGRATIONS.update(db, integration), secret


async def retire_integration(
    db: AsyncSession, *, site_id: uuid.UUID, integration_id: uuid.UUID, now: datetime
) -> PbxIntegration:
    return await repository.INTEGRATIONS.retire_on_site(
        db, site_id=site_id, row_id=integration_id, now=now
    )
