"""The delivery log as the admin API shows it, and the retry of a dead (or waiting) delivery."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.exceptions import Conflict, NotFound
from app.models import CrmConnector, DeliveryAttempt, OutboxDelivery
from crm_push import repository
from crm_push.conversion_rule import DESTINATION_KINDS

LOG_LENGTH = 50


def _noun(connector: CrmConnector) -> str:
    return "destination" if connector.kind in DESTINATION_KINDS else "CRM connector"


async def list_deliveries(
    db: AsyncSession, *, connector: CrmConnector, status: str | None, limit: int
) -> list[OutboxDelivery]:
    return await repository.deliveries(db, connector_id=connector.id, status=status, limit=limit)


async def get_delivery(
    db: AsyncSession, *, connector: CrmConnector, delivery_id: uuid.UUID
) -> tuple[OutboxDelivery, list[DeliveryAttempt]]:
    delivery = await _delivery(db, connector=connector, delivery_id=delivery_id)
    return delivery, await repository.attempts(db, delivery_id=delivery.id, limit=LOG_LENGTH)


async def _delivery(
    db: AsyncSession, *, connector: CrmConnector, delivery_id: uuid.UUID
) -> OutboxDelivery:
    delivery = await repository.delivery(db, delivery_id)
    if delivery is None or delivery.connector_id != connector.id:
        raise NotFound(f"delivery {delivery_id} not found on {_noun(connector)} {connector.id}")
    return delivery


async def retry(
    db: AsyncSession, *, connector: CrmConnector, delivery_id: uuid.UUID, now: datetime
) -> OutboxDelivery:
    """Make a dead delivery pending again with a fresh set of attempts, or a waiting one due
    now. A sent one is refused: sending it again is exactly what the outbox exists to avoid."""
    delivery = await _delivery(db, connector=connector, delivery_id=delivery_id)
    if delivery.status == "sent":
        raise Conflict(f"delivery {delivery_id} was sent already")
    if connector.retired_at is not None:
        raise Conflict(f"{_noun(connector)} {connector.id} is retired")
    if delivery.status == "dead":
        delivery.attempts = 0
    delivery.status = "pending"
    # A row a worker holds keeps its lease; the worker's outcome stands.
    if delivery.claim_token is None:
        delivery.next_attempt_at = now
    delivery.updated_at = now
    await db.flush()
    return delivery
