from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class NumberFallback(UUIDPrimaryKey, Base):
    """A session a pool could not serve, and what it was shown instead.

    Counts the pool's exhaustion for its health and sizing, and tells attribution that a number
    shown this way was seen by several visitors at once.
    """

    __tablename__ = "number_fallbacks"
    __table_args__ = (Index("ix_number_fallbacks_pool_served", "pool_id", "served_at"),)

    pool_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pools.id"))
    # tracking_sessions.id: partitioned, so no foreign key (deleted with it in app/retention.py)
    session_id: Mapped[uuid.UUID] = mapped_column(index=True)
    # The source-level static number shown instead, or empty when the target itself was shown.
    tracking_number_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tracking_numbers.id"))
    kind: Mapped[str] = mapped_column(String(16))  # "source" | "target"
    # numberpool.rules.FallbackReason: "exhausted", "store_unavailable", or an anti-draining
    # refusal ("not_on_site", "not_a_browser", "address_cap", "network_cap", "rate_cap")
    reason: Mapped[str] = mapped_column(String(32))
    served_at: Mapped[datetime]
