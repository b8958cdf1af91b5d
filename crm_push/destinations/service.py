"""Conversion destinations: a site's GA4, Yandex Metrika and Google Ads connections, each a
connector of the outbox with its rule, credentials kept write-only."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.outbound import OutboundPolicy
from app.models import CrmConnector, Site
from crm_push import repository
from crm_push.conversion_rule import Rule
from crm_push.destinations.schemas import (
    DestinationCreate,
    DestinationUpdate,
    Ga4Create,
    GoogleAdsCreate,
    RuleIn,
    YandexMetrikaCreate,
)
from crm_push.service import check_address


def _config_and_credentials(data: DestinationCreate) -> tuple[dict[str, Any], dict[str, Any]]:
    match data:
        case Ga4Create():
            config: dict[str, Any] = {
                "measurement_id": data.measurement_id,
                "event_name": data.event_name,
                "deal_event_name": data.deal_event_name,
            }
            return config, {"api_secret": data.api_secret.get_secret_value()}
        case YandexMetrikaCreate():
            config = {
                "counter_id": data.counter_id,
                "target": data.target,
                "deal_target": data.deal_target,
                "upload_calls": data.upload_calls,
            }
            return config, {"token": data.token.get_secret_value()}
        case GoogleAdsCreate():
            config = {
                "customer_id": data.customer_id,
                "conversion_action_id": data.conversion_action,
                "login_customer_id": data.login_customer_id,
                # Not a secret: it names the OAuth client; its secret is stored sealed.
                "client_id": data.client_id,
            }
            return config, {
                "developer_token": data.developer_token.get_secret_value(),
                "client_id": data.client_id,
                "client_secret": data.client_secret.get_secret_value(),
                "refresh_token": data.refresh_token.get_secret_value(),
            }


def _rule(current: Rule, data: RuleIn) -> Rule:
    given = {
        name: getattr(data, name)
        for name in Rule.__dataclass_fields__
        if getattr(data, name) is not None
    }
    return replace(current, **given)


async def create_destination(
    db: AsyncSession,
    site: Site,
    data: DestinationCreate,
    *,
    now: datetime,
    outbound: OutboundPolicy,
) -> CrmConnector:
    if data.api_base is not None:
        await check_address(outbound, "api_base", data.api_base)
    config, credentials = _config_and_credentials(data)
    config["rule"] = _rule(Rule(), data).as_config()
    if data.api_base is not None:
        config["api_base"] = data.api_base
    return await repository.DESTINATIONS.create(
        db,
        site_id=site.id,
        now=now,
        kind=data.kind,
        name=data.name,
        config=config,
        credentials=credentials,
    )


async def get_destination(
    db: AsyncSession, *, site_id: uuid.UUID, destination_id: uuid.UUID
) -> CrmConnector:
    return await repository.DESTINATIONS.get_on_site_or_404(
        db, site_id=site_id, row_id=destination_id
    )


async def list_destinations(
    db: AsyncSession, *, site_id: uuid.UUID, include_retired: bool = False
) -> list[CrmConnector]:
    return await repository.DESTINATIONS.list_on_site(
        db, site_id=site_id, include_retired=include_retired
    )


async def update_destination(
    db: AsyncSession, *, site_id: uuid.UUID, destination_id: uuid.UUID, data: DestinationUpdate
) -> CrmConnector:
    """Change the rule (or the name); calls already queued keep going out."""
    row = await get_destination(db, site_id=site_id, destination_id=destination_id)
    rule = _rule(Rule.of(row.config), data)
    # A new dict: JSON columns do not track in-place changes.
    row.config = {**row.config, "rule": rule.as_config()}
    return await repository.DESTINATIONS.update(db, row, data, fields=("name",))


async def retire_destination(
    db: AsyncSession, *, site_id: uuid.UUID, destination_id: uuid.UUID, now: datetime
) -> CrmConnector:
    return await repository.DESTINATIONS.retire_on_site(
        db, site_id=site_id, row_id=destination_id, now=now
    )
