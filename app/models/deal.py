from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class Deal(UUIDPrimaryKey, Base):
    """A CRM deal's outcome tied back to the call that started it, for revenue and ROMI."""

    __tablename__ = "deals"
    __table_args__ = (UniqueConstraint("site_id", "external_id"),)

    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    # calls.id: partitioned, so no foreign key (deleted with it in app/retention.py)
    call_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    connector_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("crm_connectors.id"))
    external_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))  # open | won | lost
    revenue: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # Entered on the call's page (external_id "manual:<call id>"), not by a CRM or the API.
    # A call's manual deal wins: while it exists, the call's other deals do not count in
    # reports (see app/reports/repository.py), and no CRM sync ever writes to it.
    manual: Mapped[bool] = mapped_column(default=False, server_default=false())
