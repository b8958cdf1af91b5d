from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.deps import AdminOnly, AppSettings, DbSession, Now
from app.kit.outbound import OutboundPolicy
from app.models import Call, CrmConnector, Deal
from app.sites import service as sites_service
from crm_push import deals, deliveries, service
from crm_push.schemas import (
    CrmConnectorCreate,
    CrmConnectorCreated,
    CrmConnectorList,
    CrmConnectorOut,
    CrmConnectorUpdate,
    DealIn,
    DealList,
    DealOut,
    DeliveryAttemptOut,
    DeliveryDetail,
    DeliveryList,
    DeliveryOut,
    DeliveryStatus,
)

admin_router = APIRouter(
    prefix="/api/v1/sites/{site_id}/crm", tags=["crm connectors"], dependencies=[AdminOnly]
)
deals_router = APIRouter(
    prefix="/api/v1/sites/{site_id}/deals", tags=["deals"], dependencies=[AdminOnly]
)


def _out(connector: CrmConnector) -> CrmConnectorOut:
    return CrmConnectorOut.model_validate(connector)


@admin_router.post("", status_code=status.HTTP_201_CREATED, response_model=CrmConnectorCreated)
async def create_connector(
    site_id: uuid.UUID, data: CrmConnectorCreate, db: DbSession, now: Now, settings: AppSettings
) -> CrmConnectorCreated:
    site = await sites_service.get_active_site(db, site_id)
    outbound = OutboundPolicy.parse(settings.outbound_allow)
    connector = await service.create_connector(db, site, data, now=now, outbound=outbound)
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
    site_id: uuid.UUID,
    connector_id: uuid.UUID,
    data: CrmConnectorUpdate,
    db: DbSession,
    settings: AppSettings,
) -> CrmConnectorOut:
    row = await service.update_connector(
        db,
        site_id=site_id,
        connector_id=connector_id,
        data=data,
        outbound=OutboundPolicy.parse(settings.outbound_allow),
    )
    return _out(row)


@admin_router.delete("/{connector_id}", response_model=CrmConnectorOut)
async def retire_connector(
    site_id: uuid.UUID, connector_id: uuid.UUID, db: DbSession, now: Now
) -> CrmConnectorOut:
    row = await service.retire_connector(db, site_id=site_id, connector_id=connector_id, now=now)
    return _out(row)


# --- deliveries ----------------------------------------------------------------------------


def delivery_out(row: object) -> DeliveryOut:
    out = DeliveryOut.model_validate(row)
    # Only a pending delivery has a next attempt.
    return out if out.status == "pending" else out.model_copy(update={"next_attempt_at": None})


@admin_router.get("/{connector_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    site_id: uuid.UUID,
    connector_id: uuid.UUID,
    db: DbSession,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryList:
    """The connector's deliveries, most recently changed first; `?status=dead` lists what
    needs a look (and a retry)."""
    connector = await service.get_connector(db, site_id=site_id, connector_id=connector_id)
    rows = await deliveries.list_deliveries(
        db, connector=connector, status=delivery_status, limit=limit
    )
    return DeliveryList(items=[delivery_out(row) for row in rows])


@admin_router.get("/{connector_id}/deliveries/{delivery_id}", response_model=DeliveryDetail)
async def get_delivery(
    site_id: uuid.UUID, connector_id: uuid.UUID, delivery_id: uuid.UUID, db: DbSession
) -> DeliveryDetail:
    """A delivery with its attempts, newest first: time, HTTP status, a redacted excerpt."""
    connector = await service.get_connector(db, site_id=site_id, connector_id=connector_id)
    row, attempts = await deliveries.get_delivery(db, connector=connector, delivery_id=delivery_id)
    return DeliveryDetail(
        **delivery_out(row).model_dump(),
        log=[DeliveryAttemptOut.model_validate(a) for a in attempts],
    )


@admin_router.post("/{connector_id}/deliveries/{delivery_id}/retry", response_model=DeliveryOut)
async def retry_delivery(
    site_id: uuid.UUID, connector_id: uuid.UUID, delivery_id: uuid.UUID, db: DbSession, now: Now
) -> DeliveryOut:
    """Send a dead delivery again (fresh attempts; the CRM is asked for the record first if
    an earlier attempt may have made it), or a waiting one now. 409 for a sent one."""
    connector = await service.get_connector(db, site_id=site_id, connector_id=connector_id)
    row = await deliveries.retry(db, connector=connector, delivery_id=delivery_id, now=now)
    return delivery_out(row)


# --- deals ---------------------------------------------------------------------------------


def _deal_out(deal: Deal, call: Call | None) -> DealOut:
    out = DealOut.model_validate(deal)
    if call is None:
        return out
    return out.model_copy(
        update={"source": call.source, "medium": call.medium, "campaign": call.campaign}
    )


@deals_router.post("", response_model=DealOut, status_code=status.HTTP_201_CREATED)
async def record_deal(
    site_id: uuid.UUID, data: DealIn, db: DbSession, now: Now, response: Response
) -> DealOut:
    """A deal outcome from any CRM, tied to a call by id or to the caller's latest call;
    the same external_id again updates it (200)."""
    site = await sites_service.get_active_site(db, site_id)
    deal, created = await deals.record_deal(db, site=site, data=data, now=now)
    if not created:
        response.status_code = status.HTTP_200_OK
    calls = await deals.calls_of(db, [deal])
    return _deal_out(deal, calls.get(deal.call_id) if deal.call_id else None)


@deals_router.get("", response_model=DealList)
async def list_deals(
    site_id: uuid.UUID,
    db: DbSession,
    call_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> DealList:
    await sites_service.get_site(db, site_id)
    rows = await deals.list_deals(db, site_id=site_id, call_id=call_id, limit=limit)
    calls = await deals.calls_of(db, rows)
    return DealList(items=[_deal_out(d, calls.get(d.call_id) if d.call_id else None) for d in rows])
