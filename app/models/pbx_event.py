from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class PbxEvent(UUIDPrimaryKey, Base):
    """A verified webhook exactly as it arrived, stored once before it is processed.

    Keeping the raw body lets a bug in the mapping be fixed and the events replayed.
    """

    __tablename__ = "pbx_events"
    __table_args__ = (
        UniqueConstraint("integration_id", "dedup_key"),
        Index("ix_pbx_events_unprocessed", "processed_at", "received_at"),
    )

    integration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pbx_integrations.id"))
    dedup_key: Mapped[str] = mapped_column(String(300))
    provider_call_id: Mapped[str | None] = mapped_column(String(200))
    subpath: Mapped[str] = mapped_column(String(100), default="")
    content_type: Mapped[str] = mapped_column(String(100))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    call_id: Mapped[uuid.UUID | None]  # calls.id (partitioned: no foreign key)
