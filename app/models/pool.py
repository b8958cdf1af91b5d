from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey

DEFAULT_IDLE_TIMEOUT_S = 300
DEFAULT_COOLDOWN_S = 900
DEFAULT_MAX_LEASE_S = 14400
# People call back hours after the visit; a call this long after the lease and its cooldown
# still goes to the number's last holder (with a low confidence).
DEFAULT_LATE_CALL_WINDOW_S = 86400


class Pool(UUIDPrimaryKey, Base):
    """A dynamic pool: tracking numbers leased one per visit in place of one target number."""

    __tablename__ = "pools"
    __table_args__ = (
        # One live pool per target number; a retired pool keeps its history.
        Index(
            "uq_pools_active_target",
            "target_number_id",
            unique=True,
            postgresql_where=text("retired_at IS NULL"),
            sqlite_where=text("retired_at IS NULL"),
        ),
    )

    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    target_number_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("target_numbers.id"))
    idle_timeout_s: Mapped[int] = mapped_column(default=DEFAULT_IDLE_TIMEOUT_S)
    cooldown_s: Mapped[int] = mapped_column(default=DEFAULT_COOLDOWN_S)
    max_lease_s: Mapped[int] = mapped_column(default=DEFAULT_MAX_LEASE_S)
    late_call_window_s: Mapped[int] = mapped_column(
        default=DEFAULT_LATE_CALL_WINDOW_S, server_default=str(DEFAULT_LATE_CALL_WINDOW_S)
    )
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
