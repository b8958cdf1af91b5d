from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey

# Exactly one of the three says what a delivery is about.
CALL_LEAD_OR_DIGEST = (
    "(CASE WHEN call_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN lead_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN digest_day IS NULL THEN 0 ELSE 1 END) = 1"
)


class OutboxDelivery(UUIDPrimaryKey, Base):
    """One call or form lead to push to one connector (a CRM, an alert channel): the
    transactional outbox row the worker drains. Exactly one of `call_id`, `lead_id` and
    `digest_day` is set: a daily digest names no call or lead, `digest_day` says which day it
    sums up and `payload` keeps the figures it was written with, so a retry sends the same."""

    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        UniqueConstraint("connector_id", "call_id", "event"),
        UniqueConstraint("connector_id", "lead_id", "event"),
        CheckConstraint(CALL_LEAD_OR_DIGEST, name="call_lead_or_digest"),
        # The worker's claim: due rows of a status, oldest first.
        Index("ix_outbox_deliveries_due", "status", "next_attempt_at"),
    )

    connector_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("crm_connectors.id"))
    # calls.id: partitioned, so no foreign key (deleted with it in app/retention.py)
    call_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("form_leads.id"), index=True)
    # call.started | call.attributed | call.missed | form | digest.daily
    event: Mapped[str] = mapped_column(String(32))
    # The site's local day a digest sums up (digest rows only).
    digest_day: Mapped[date | None]
    payload: Mapped[dict[str, Any] | None]
    # Sent to the CRM so that a retry after an unknown outcome finds the first attempt's lead.
    idempotency_key: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | dead
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    # What the CRM made of it ("lead:123"), and the other ids it answered (unsorted uid, contact).
    external_id: Mapped[str | None] = mapped_column(String(100))
    external_refs: Mapped[dict[str, Any] | None]
    # Set while a worker holds the row (its lease is `next_attempt_at`); a row found claimed
    # when the lease has run out belongs to a worker that stopped mid-delivery.
    claim_token: Mapped[uuid.UUID | None]
    # An earlier attempt may have reached the CRM (a timeout, a 5xx, a worker that stopped):
    # the next attempt looks the idempotency key up before creating anything.
    maybe_created: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
