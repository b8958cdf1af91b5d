from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class FormLead(UUIDPrimaryKey, Base):
    """A form submitted on the site during a visit: a lead like a call, with the visit's
    attribution copied when it came (a snapshot, as on calls).

    `phone` is E.164 when it parsed for the site's country, so it matches `calls.caller`: a
    caller who filled a form and then phoned is one person."""

    __tablename__ = "form_leads"
    __table_args__ = (
        Index("ix_form_leads_site_created", "site_id", "created_at"),
        Index("ix_form_leads_site_phone", "site_id", "phone"),
    )

    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    session_id: Mapped[uuid.UUID | None]  # tracking_sessions.id (partitioned: no foreign key)
    visitor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visitors.id"))
    url: Mapped[str] = mapped_column(Text)
    form_id: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(320))
    # Every other field the visitor filled in, as text; never a password, card or hidden one.
    fields: Mapped[dict[str, Any]]
    source: Mapped[str | None] = mapped_column(String(200))
    medium: Mapped[str | None] = mapped_column(String(200))
    campaign: Mapped[str | None] = mapped_column(String(500))
    term: Mapped[str | None] = mapped_column(String(500))
    content: Mapped[str | None] = mapped_column(String(500))
    landing_url: Mapped[str | None] = mapped_column(Text)
    referrer: Mapped[str | None] = mapped_column(Text)
    gclid: Mapped[str | None] = mapped_column(String(500))
    yclid: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
