from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class SnippetRefusal(UUIDPrimaryKey, Base):
    """A snippet request refused because its page's origin is not one of the site's domains:
    which host, and when, so the site's page can say "add it to the domains" even though no
    visit was stored. Bounded per site (app.tracking.refusals)."""

    __tablename__ = "snippet_refusals"
    __table_args__ = (Index("ix_snippet_refusals_site", "site_id", "received_at"),)

    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    received_at: Mapped[datetime]
    host: Mapped[str] = mapped_column(String(255))
