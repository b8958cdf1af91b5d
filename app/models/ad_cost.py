from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class AdCost(UUIDPrimaryKey, Base):
    """Ad spend of one day for one source / medium / campaign, for cost per call and ROMI."""

    __tablename__ = "ad_costs"
    __table_args__ = (UniqueConstraint("site_id", "day", "source", "medium", "campaign"),)

    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(200))
    medium: Mapped[str] = mapped_column(String(200), default="")
    # Empty rather than NULL so that the unique constraint also holds for rows without one.
    campaign: Mapped[str] = mapped_column(String(500), default="")
    cost: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]
