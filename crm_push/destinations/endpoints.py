from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.deps import AdminOnly, AppSettings, DbSession, Now
from app.kit.outbound import OutboundPolicy
from app.models import CrmConnector
from app.sites import service as sites_service
from crm_push import deliveries
from crm_push.conversion_rule import Rule
from crm_push.destinations import service
from crm_push.destinations.schemas import (
    DestinationCreate,
    DestinationList,
    DestinationOut,
    DestinationUpdate,
    RuleOut,
)
from crm_push.schemas import (
    DeliveryAttemptOut,
    DeliveryDetail,
    DeliveryList,
    DeliveryOut,
    DeliveryStatus,
)

router = APIRouter(
    prefix="/api/v1/sites/{site_id}/destinations",
    tags=["conversion destinations"],
    dependencies=[AdminOnly],
)


def _out(row: CrmConnector) -> DestinationOut:
    rule = Rule.of(row.config)
    config = {k: v for k, v in row.config.items() if k != "rule"}
    return DestinationOut(
        id=row.id,
        site_id=row.site_id,
        kind=row.kind,
        name=row.name,
        config=config,
        rule=RuleOut(**rule.as_config()),
        created_at=row.created_at,
        retired_at=row.retired_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DestinationOut)
async def create_destination(
    site_id: uuid.UUID, data: DestinationCreate, db: DbSession, now: Now, settings: AppSettings
) -> DestinationOut:
    """Send qualifying calls (and won deals' values) to GA4, Yandex Metrika or Google Ads."""
    site = await sites_service.get_active_site(db, site_id)
    outbound = OutboundPolicy.parse(settings.outbound_allow)
    row = await service.create_destination(db, site, data, now=now, outbound=outbound)
    return _out(row)


@router.get("", response_model=DestinationList)
async def list_destinations(
    site_id: uuid.UUID, db: DbSession, include_retired: bool = False
) -> DestinationList:
    await sites_service.get_site(db, site_id)
    rows = await service.list_destinations(db, site_id=site_id, include_retired=include_retired)
    return DestinationList(items=[_out(row) for row in rows])


@router.get("/{destination_id}", response_model=DestinationOut)
async def get_destination(
    site_id: uuid.UUID, destination_id: uuid.UUID, db: DbSession
) -> DestinationOut:
    return _out(await service.get_destination(db, site_id=site_id, destination_id=destination_id))


@router.patch("/{destination_id}", response_model=DestinationOut)
async def update_destination(
    site_id: uuid.UUID, destination_id: uuid.UUID, data: DestinationUpdate, db: DbSession
) -> DestinationOut:
    """Change which calls qualify and whether values are sent."""
    row = await service.update_destination(
        db, site_id=site_id, destination_id=destination_id, data=data
    )
    return _out(row)


@router.delete("/{destination_id}", response_model=DestinationOut)
async def retire_destination(
    site_id: uuid.UUID, destination_id: uuid.UUID, db: DbSession, now: Now
) -> DestinationOut:
    row = await service.retire_destination(
        db, site_id=site_id, destination_id=destination_id, now=now
    )
    return _out(row)


def _delivery_out(row: object) -> DeliveryOut:
    out = DeliveryOut.model_validate(row)
    return out if out.status == "pending" else out.model_copy(update={"next_attempt_at": None})


@router.get("/{destination_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    site_id: uuid.UUID,
    destination_id: uuid.UUID,
    db: DbSession,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryList:
    """What went out (event `call.attributed` for a call, `deal.won` for a won deal's value),
    most recently changed first; `?status=dead` lists what the platform refused, with why."""
    row = await service.get_destination(db, site_id=site_id, destination_id=destination_id)
    rows = await deliveries.list_deliveries(db, connector=row, status=delivery_status, limit=limit)
    return DeliveryList(items=[_delivery_out(r) for r in rows])


@router.get("/{destination_id}/deliveries/{delivery_id}", response_model=DeliveryDetail)
async def get_delivery(
    site_id: uuid.UUID, destination_id: uuid.UUID, delivery_id: uuid.UUID, db: DbSession
) -> DeliveryDetail:
    row = await service.get_destination(db, site_id=site_id, destination_id=destination_id)
    delivery, attempts = await deliveries.get_delivery(db, connector=row, delivery_id=delivery_id)
    return DeliveryDetail(
        **_delivery_out(delivery).model_dump(),
        log=[DeliveryAttemptOut.model_validate(a) for a in attempts],
    )


@router.post("/{destination_id}/deliveries/{delivery_id}/retry", response_model=DeliveryOut)
async def retry_delivery(
    site_id: uuid.UUID, destination_id: uuid.UUID, delivery_id: uuid.UUID, db: DbSession, now: Now
) -> DeliveryOut:
    """Send a dead delivery again (after fixing what the platform refused), or a waiting one
    now. 409 for a sent one."""
    row = await service.get_destination(db, site_id=site_id, destination_id=destination_id)
    delivery = await deliveries.retry(db, connector=row, delivery_id=delivery_id, now=now)
    return _delivery_out(delivery)
