from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class DeliveryAttempt(UUIDPrimaryKey, Base):
    """One try at a delivery: when, what the CRM answered (a short, redacted excerpt), how long."""

    __tablename__ = "delivery_attempts"

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("outbox_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None]
    outcome: Mapped[str] = mapped_column(String(16))  # sent | retry | dead
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int]
