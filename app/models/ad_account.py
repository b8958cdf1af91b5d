from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, EncryptedJSON, UUIDPrimaryKey


class AdAccount(UUIDPrimaryKey, Base):
    """An ad platform account whose spend is imported: Yandex Direct, Google Ads or VK Ads.

    `config` is safe to show (client login, customer id, the address override); `credentials`
    (tokens, client secrets) are write-only and sealed at rest like the CRM connectors'.
    """

    __tablename__ = "ad_accounts"

    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200))
    config: Mapped[dict[str, Any]]
    credentials: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
    # The daily import: due at `next_import_at` (claimed by moving it forward, so one worker
    # imports an account at a time); the last one's outcome, for the dashboard.
    next_import_at: Mapped[datetime | None]
    last_import_at: Mapped[datetime | None]
    last_import_status: Mapped[str | None] = mapped_column(String(16))
    last_import_error: Mapped[str | None] = mapped_column(Text)
    last_import_rows: Mapped[int | None]
