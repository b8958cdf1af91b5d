from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class NumberKind(StrEnum):
    DYNAMIC = "dynamic"  # member of a pool, leased per visit
    SOURCE = "source"  # shown to every visitor of one traffic source
    OFFLINE = "offline"  # printed on flyers, billboards, radio ads; never shown on the site


class TrackingNumber(UUIDPrimaryKey, Base):
    """A number of ours that calls arrive on, and what it stands for.

    For `source` numbers, source / medium / campaign are the rule that picks the visitors it is
    shown to (an empty medium or campaign matches any); for `offline` numbers they are the labels
    its calls are attributed to.
    """

    __tablename__ = "tracking_numbers"
    __table_args__ = (
        # A number belongs to one place only while it is active; retired ones keep their history.
        Index(
            "uq_tracking_numbers_active_number",
            "number",
            unique=True,
            postgresql_where=text("retired_at IS NULL"),
            sqlite_where=text("retired_at IS NULL"),
        ),
        Index("ix_tracking_numbers_number", "number"),
    )

    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))
    pool_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pools.id"), index=True)
    target_number_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("target_numbers.id"))
    source: Mapped[str | None] = mapped_column(String(200))
    medium: Mapped[str | None] = mapped_column(String(200))
    campaign: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
