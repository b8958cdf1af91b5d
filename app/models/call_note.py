from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class CallNote(UUIDPrimaryKey, Base):
    """A note a dashboard user wrote on a call's page.

    The author's e-mail is copied in: the note still says who wrote it after the account goes.
    """

    __tablename__ = "call_notes"
    __table_args__ = (Index("ix_call_notes_call_created", "call_id", "created_at"),)

    # calls.id: partitioned, so no foreign key; deleted with the call in app/retention.py
    call_id: Mapped[uuid.UUID]
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_email: Mapped[str] = mapped_column(String(320))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
