from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class PbxRefusal(UUIDPrimaryKey, Base):
    """A webhook refused for its signature: why, and when, so a wrong secret shows on the
    dashboard. Bounded per integration (pbx_webhooks.refusals); the body is never kept, since
    it may carry whatever the sender put in it."""

    __tablename__ = "pbx_refusals"
    __table_args__ = (Index("ix_pbx_refusals_integration", "integration_id", "received_at"),)

    integration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pbx_integrations.id", ondelete="CASCADE")
    )
    received_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500))
