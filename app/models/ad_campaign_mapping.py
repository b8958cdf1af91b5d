from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey


class AdCampaignMapping(UUIDPrimaryKey, Base):
    """The utm_campaign that visits from one platform campaign carry, where it is not the
    campaign's own name (a Yandex campaign tagged utm_campaign=sofas_msk, say)."""

    __tablename__ = "ad_campaign_mappings"
    __table_args__ = (UniqueConstraint("account_id", "platform_campaign"),)

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ad_accounts.id", ondelete="CASCADE"))
    platform_campaign: Mapped[str] = mapped_column(String(500))
    utm_campaign: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]
