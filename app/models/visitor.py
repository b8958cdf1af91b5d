from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class Visitor(UUIDPrimaryKey, Base):
    """One browser that accepted the visitor id; its sessions make up its journey."""

    __tablename__ = "visitors"

    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
