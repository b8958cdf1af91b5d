from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class TargetNumber(UUIDPrimaryKey, Base):
    """A site's own phone number, the one the snippet replaces with a tracking number."""

    __tablename__ = "target_numbers"
    __table_args__ = (UniqueConstraint("site_id", "number"),)

    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
