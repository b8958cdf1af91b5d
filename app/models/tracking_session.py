from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class TrackingSession(UUIDPrimaryKey, Base):
    """A visit: where it came from (classified source and the raw landing data) and its consent.

    On PostgreSQL the table is partitioned by month of `started_at` (app/partitions.py), with
    the primary key (id, started_at) there; no foreign key points here (see Call).
    """

    __tablename__ = "tracking_sessions"
    __table_args__ = (
        Index("ix_tracking_sessions_site_started", "site_id", "started_at"),
        Index("ix_tracking_sessions_visitor_started", "visitor_id", "started_at"),
        {"postgresql_partition_by": "RANGE (started_at)"},
    )

    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    # Empty when the visitor declined consent: no id is kept for them.
    visitor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visitors.id"))
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    landing_url: Mapped[str] = mapped_column(Text)
    referrer: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200))
    medium: Mapped[str] = mapped_column(String(200))
    campaign: Mapped[str | None] = mapped_column(String(500))
    term: Mapped[str | None] = mapped_column(String(500))
    content: Mapped[str | None] = mapped_column(String(500))
    gclid: Mapped[str | None] = mapped_column(String(500))
    yclid: Mapped[str | None] = mapped_column(String(500))
    fbclid: Mapped[str | None] = mapped_column(String(500))
    ga_client_id: Mapped[str | None] = mapped_column(String(100))
    ym_client_id: Mapped[str | None] = mapped_column(String(100))
    user_agent: Mapped[str | None] = mapped_column(Text)
    consent: Mapped[bool]
    is_bot: Mapped[bool] = mapped_column(default=False)
