from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class OutboxDelivery(UUIDPrimaryKey, Base):
    """One call to push to one connector (a CRM, an alert channel): the transactional outbox
    row the worker drains. A daily digest names no call: `digest_day` says which day it sums
    up, and `payload` keeps the figures it was written with, so a retry sends the same."""

    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        UniqueConstraint("connector_id", "call_id", "event"),
        # The worker's claim: due rows of a status, oldest first.
        Index("ix_outbox_deliveries_due", "status", "next_attempt_at"),
    )

    connector_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("crm_connectors.id"))
    call_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("calls.id"), index=True)
    # call.started | call.attributed | call.missed | digest.daily
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
