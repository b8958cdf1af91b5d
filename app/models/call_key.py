from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class CallKey(Base):
    """Which call a PBX's call id is: one row per (integration, provider call id).

    The webhook path meets here. A partitioned `calls` cannot hold this uniqueness (PostgreSQL
    requires the partition key in every unique constraint), so this small table holds it, and
    locking its row is what makes parallel events of one call wait for each other. It also
    names the call's partition (`created_at`), so reading the call touches one partition.
    """

    __tablename__ = "call_keys"

    integration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pbx_integrations.id"), primary_key=True
    )
    provider_call_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    call_id: Mapped[uuid.UUID] = mapped_column(index=True)
    created_at: Mapped[datetime]
