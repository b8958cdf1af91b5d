"""`/api/v1/sites/{site_id}/notifications`: alert rules, their deliveries, a test message."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.deps import AdminOnly, AppSettings, DbSession, Now
from app.kit.clock import utcnow
from app.kit.outbound import OutboundPolicy, outbound_client
from app.mail import mail_configured, send_mail
from app.sites import service as sites_service
from crm_push import alerts, deliveries
from crm_push.alerts_schemas import (
    NotificationCreate,
    NotificationList,
    NotificationOut,
    TestResult,
)
from crm_push.endpoints import delivery_out
from crm_push.schemas import DeliveryList, DeliveryOut, DeliveryStatus
from crm_push.worker import real_sleep_until

router = APIRouter(
    prefix="/api/v1/sites/{site_id}/notifications",
    tags=["notifications"],
    dependencies=[AdminOnly],
)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=NotificationOut)
async def create_notification(
    site_id: uuid.UUID, data: NotificationCreate, db: DbSession, now: Now, settings: AppSettings
) -> NotificationOut:
    """E-mail (`to`) or Telegram (`chat_id`, `bot_token`, `api_base`?) for the chosen
    events: `missed_call` (with the number to call back), `call` (every call, as it ends),
    `form_lead`, `daily_digest` (yesterday in the site's time zone, after 08:00 there)."""
    site = await sites_service.get_active_site(db, site_id)
    rule = await alerts.create_rule(
        db,
        site,
        data,
        now=now,
        outbound=OutboundPolicy.parse(settings.outbound_allow),
        mail_on=mail_configured(settings),
    )
    return (await alerts.described(db, [rule]))[0]


@router.get("", response_model=NotificationList)
async def list_notifications(
    site_id: uuid.UUID, db: DbSession, include_retired: bool = False
) -> NotificationList:
    await sites_service.get_site(db, site_id)
    rules = await alerts.list_rules(db, site_id=site_id, include_retired=include_retired)
    return NotificationList(items=await alerts.described(db, rules))


@router.get("/{rule_id}", response_model=NotificationOut)
async def get_notification(
    site_id: uuid.UUID, rule_id: uuid.UUID, db: DbSession
) -> NotificationOut:
    rule = await alerts.get_rule(db, site_id=site_id, rule_id=rule_id)
    return (await alerts.described(db, [rule]))[0]


@router.delete("/{rule_id}", response_model=NotificationOut)
async def retire_notification(
    site_id: uuid.UUID, rule_id: uuid.UUID, db: DbSession, now: Now
) -> NotificationOut:
    """Retire the rule: nothing more is sent; what waited in the outbox is dropped."""
    rule = await alerts.retire_rule(db, site_id=site_id, rule_id=rule_id, now=now)
    return (await alerts.described(db, [rule]))[0]


@router.post("/{rule_id}/test", response_model=TestResult)
async def test_notification(
    site_id: uuid.UUID, rule_id: uuid.UUID, db: DbSession, settings: AppSettings, now: Now
) -> TestResult:
    """Send a test message now, through the channel's guarded client; the answer says how
    it went."""
    site = await sites_service.get_site(db, site_id)
    rule = await alerts.get_rule(db, site_id=site_id, rule_id=rule_id)
    async with outbound_client(OutboundPolicy.parse(settings.outbound_allow)) as http:
        return await alerts.send_test(
            rule,
            site,
            http=http,
            mailer=partial(send_mail, settings) if mail_configured(settings) else None,
            public_url=settings.public_url,
            clock=lambda: now,
            sleep_until=real_sleep_until(utcnow),
        )


@router.get("/{rule_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    site_id: uuid.UUID,
    rule_id: uuid.UUID,
    db: DbSession,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryList:
    rule = await alerts.get_rule(db, site_id=site_id, rule_id=rule_id)
    rows = await deliveries.list_deliveries(db, connector=rule, status=delivery_status, limit=limit)
    return DeliveryList(items=[delivery_out(row) for row in rows])


@router.post("/{rule_id}/deliveries/{delivery_id}/retry", response_model=DeliveryOut)
async def retry_delivery(
    site_id: uuid.UUID, rule_id: uuid.UUID, delivery_id: uuid.UUID, db: DbSession, now: Now
) -> DeliveryOut:
    rule = await alerts.get_rule(db, site_id=site_id, rule_id=rule_id)
    row = await deliveries.retry(db, connector=rule, delivery_id=delivery_id, now=now)
    return delivery_out(row)
