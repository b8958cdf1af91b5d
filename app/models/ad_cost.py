from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class AdCost(UUIDPrimaryKey, Base):
    """Ad spend of one day for one source / medium / campaign (/ keyword), for cost per call
    and ROMI.

    Uploaded rows (`account_id` NULL) are one figure per day and channel, replaced by the next
    upload of the same key. Imported rows belong to their ad account: an import replaces all of
    the account's rows of the days it covers, so a re-import never doubles a day.
    """

    __tablename__ = "ad_costs"
    __table_args__ = (
        Index(
            "uq_ad_costs_uploaded_key",
            "site_id",
            "day",
            "source",
            "medium",
            "campaign",
            "term",
            unique=True,
            postgresql_where=text("account_id IS NULL"),
            sqlite_where=text("account_id IS NULL"),
        ),
        Index("ix_ad_costs_account_day", "account_id", "day"),
    )

    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(200))
    medium: Mapped[str] = mapped_column(String(200), default="")
    # Empty rather than NULL so that the unique index also holds for rows without one.
    campaign: Mapped[str] = mapped_column(String(500), default="")
    # The keyword (utm_term) the spend bought, "" when the platform or upload gives none.
    term: Mapped[str] = mapped_column(String(500), default="", server_default="")
    cost: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]
    # The ad account an imported row came from, and the campaign's name there (`campaign` is
    # the utm_campaign it was matched to: the same unless a mapping says otherwise).
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ad_accounts.id", ondelete="CASCADE")
    )
    platform_campaign: Mapped[str] = mapped_column(String(500), default="", server_default="")
