from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, EncryptedJSON, UUIDPrimaryKey


class PbxIntegration(UUIDPrimaryKey, Base):
    """A PBX that posts call webhooks for a site, and what verifies them.

    `credentials` (signing secrets, tokens, API keys) are write-only: never serialised back to a
    client and never logged; `settings` holds what is safe to show (a time zone, say).
    """

    __tablename__ = "pbx_integrations"

    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200))
    credentials: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())
    settings: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
