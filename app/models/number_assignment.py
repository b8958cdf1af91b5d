from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class NumberAssignment(UUIDPrimaryKey, Base):
    """The lease log: who held a dynamic number, from when to when.

    This is the authoritative record calls are matched against; the pool store (Redis or
    in-process) is only a fast, rebuildable cache of its open rows. `generation` counts the
    leases of one number and fences a stale writer out.
    """

    __tablename__ = "number_assignments"
    __table_args__ = (
        UniqueConstraint("tracking_number_id", "generation"),
        # "Who held number N at time T": the latest start at or before T for that number.
        Index("ix_number_assignments_number_started", "tracking_number_id", "started_at"),
        Index("ix_number_assignments_pool_started", "pool_id", "started_at"),
    )

    pool_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pools.id"))
    tracking_number_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tracking_numbers.id"))
    # tracking_sessions.id: partitioned, so no foreign key (deleted with it in app/retention.py)
    session_id: Mapped[uuid.UUID] = mapped_column(index=True)
    visitor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visitors.id"))
    generation: Mapped[int]
    started_at: Mapped[datetime]
    # Open while the lease lives; the pool closes it when the lease ends or is reclaimed.
    ended_at: Mapped[datetime | None]
