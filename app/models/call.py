from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class Call(UUIDPrimaryKey, Base):
    """One phone call, merged from its PBX events, with the visit it is attributed to.

    The attribution columns are a snapshot taken when the call was matched, so a report does
    not change when a session is later edited or purged.

    On PostgreSQL the table is partitioned by month of `created_at` (app/partitions.py): the
    month a call was recorded in never changes, while `started_at` can move earlier as late
    events arrive. Its primary key there is (id, created_at), as PostgreSQL requires of a
    partitioned table; the ORM keys it by id alone, which is unique on its own (uuid4). For
    the same reason no foreign key points here, and the unique (integration, provider call
    id) lives in `call_keys`.
    """

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_site_started", "site_id", "started_at"),
        Index("ix_calls_site_caller", "site_id", "caller"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    integration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pbx_integrations.id"))
    provider_call_id: Mapped[str] = mapped_column(String(200))
    tracking_number_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tracking_numbers.id"))
    caller: Mapped[str | None] = mapped_column(String(32))
    called: Mapped[str | None] = mapped_column(String(32))
    # ringing < answered < ended: the state only moves forward.
    status: Mapped[str] = mapped_column(String(16))
    # What the PBX said of the outcome, if anything, kept apart from the outcome we derive from
    # it (or from whether the call was answered) so that folding events never reads back a guess.
    reported_outcome: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16))  # answered | missed | busy | failed
    started_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration: Mapped[int | None]
    talk_duration: Mapped[int | None]
    recording_url: Mapped[str | None] = mapped_column(Text)
    last_sequence: Mapped[int | None]
    first_time_caller: Mapped[bool] = mapped_column(default=False)
    possible_spam: Mapped[bool] = mapped_column(default=False)
    attribution_method: Mapped[str] = mapped_column(String(16), default="none")
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    confidence_reason: Mapped[str | None] = mapped_column(Text)
    attribution_conflict: Mapped[bool] = mapped_column(default=False)
    session_id: Mapped[uuid.UUID | None]  # tracking_sessions.id (partitioned: no foreign key)
    visitor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visitors.id"), index=True)
    source: Mapped[str | None] = mapped_column(String(200))
    medium: Mapped[str | None] = mapped_column(String(200))
    campaign: Mapped[str | None] = mapped_column(String(500))
    term: Mapped[str | None] = mapped_column(String(500))
    content: Mapped[str | None] = mapped_column(String(500))
    landing_url: Mapped[str | None] = mapped_column(Text)
    referrer: Mapped[str | None] = mapped_column(Text)
    gclid: Mapped[str | None] = mapped_column(String(500))
    yclid: Mapped[str | None] = mapped_column(String(500))
    # Set by people on the call's page: new (None) | in_progress | qualified | spam.
    lead_status: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
