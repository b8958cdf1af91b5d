"""CRM connectors: where a site's calls go, with credentials kept write-only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from app.exceptions import InvalidField
from app.kit.outbound import OutboundPolicy, OutboundRefused
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
            config: dict[str, Any] = {"base_url": data.base_url, "pipeline_id": data.pipeline_id}
            if data.currency:
                config["currency"] = data.currency
            if not data.send_updates:
                config["send_updates"] = False
            return config, {"token": data.token.get_secret_value()}
        case Bitrix24Create():
            url = data.webhook_url.get_secret_value()
            parts = urlsplit(url)
            credentials = {"webhook_url": url}
            if data.application_token is not None:
                credentials["application_token"] = data.application_token.get_secret_value()
            # Only the portal is safe to show: the path carries the webhook's secret.
            bitrix: dict[str, Any] = {"portal": f"{parts.scheme}://{parts.netloc}"}
            if not data.send_updates:
                bitrix["send_updates"] = False
            return bitrix, credentials
        case WebhookCreate():
            config = {"url": data.url}
            # Stored only when it differs from the default, so the usual config stays minimal.
            if list(data.events) != ["call.attributed"]:
                config["events"] = sorted(set(data.events))
            return config, {"secret": new_webhook_secret()}


def _address_field(data: CrmConnectorCreate) -> tuple[str, str]:
    """The field naming where the connector connects, and its URL."""
    match data:
        case AmoCrmCreate():
            return "base_url", data.base_url
        case Bitrix24Create():
            return "webhook_url", data.webhook_url.get_secret_value()
        case WebhookCreate():
            return "url", data.url


async def check_address(outbound: OutboundPolicy, field: str, url: str) -> None:
    """422 naming the field when the URL points where connectors may not connect."""
    try:
        await outbound.check_url(url)
    except OutboundRefused as refused:
        raise InvalidField(field, refused.reason) from None


async def create_connector(
    db: AsyncSession,
    site: Site,
    data: CrmConnectorCreate,
    *,
    now: datetime,
    outbound: OutboundPolicy,
) -> CrmConnector:
    await check_address(outbound, *_address_field(data))
    config, credentials = _config_and_credentials(data)
    return await repository.CRM_CONNECTORS.create(
        db,
        site_id=site.id,
        now=now,
        kind=data.kind,
        name=data.name,
        config=config,
        credentials=credentials,
    )


async def get_connector(
    db: AsyncSession, *, site_id: uuid.UUID, connector_id: uuid.UUID
) -> CrmConnector:
    return await repository.CRM_CONNECTORS.get_on_site_or_404(
        db, site_id=site_id, row_id=connector_id
    )


async def list_connectors(
    db: AsyncSession, *, site_id: uuid.UUID, include_retired: bool = False
) -> list[CrmConnector]:
    return await repository.CRM_CONNECTORS.list_on_site(
        db, site_id=site_id, include_retired=include_retired
    )


async def update_connector(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    connector_id: uuid.UUID,
    data: CrmConnectorUpdate,
    outbound: OutboundPolicy,
) -> CrmConnector:
    connector = await get_connector(db, site_id=site_id, connector_id=connector_id)
    rotated = {
        field: secret.get_secret_value()
        for field, secret in (
            ("token", data.token),
            ("webhook_url", data.webhook_url),
            ("application_token", data.application_token),
        )
        if secret is not None
    }
    for field in rotated:
        if field not in _CREDENTIALS[connector.kind]:
            raise InvalidField(field, f"a {connector.kind} connector has no {field}")
    if "webhook_url" in rotated:
        await check_address(outbound, "webhook_url", rotated["webhook_url"])
    if rotated:
        # A new dict: JSON columns do not track in-place changes.
        connector.credentials = {**connector.credentials, **rotated}
        if "webhook_url" in rotated:
            parts = urlsplit(rotated["webhook_url"])
            connector.config = {**connector.config, "portal": f"{parts.scheme}://{parts.netloc}"}
    return await repository.CRM_CONNECTORS.update(db, connector, data, fields=("name",))


_CREDENTIALS = {
    "amocrm": frozenset({"token"}),
    "bitrix24": frozenset({"webhook_url", "application_token"}),
    "webhook": frozenset[str](),
}


async def retire_connector(
    db: AsyncSession, *, site_id: uuid.UUID, connector_id: uuid.UUID, now: datetime
) -> CrmConnector:
    return await repository.CRM_CONNECTORS.retire_on_site(
        db, site_id=site_id, row_id=connector_id, now=now
    )
