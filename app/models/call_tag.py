from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class CallTag(Base):
    """A free-text tag on a call ("repeat order", "wholesale"), several per call."""

    __tablename__ = "call_tags"
    # The Calls list filters a site's calls by one tag.
    __table_args__ = (Index("ix_call_tags_site_tag", "site_id", "tag"),)

    # calls.id: partitioned, so no foreign key; deleted with the call in app/retention.py
    call_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
