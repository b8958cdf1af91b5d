from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, EncryptedJSON, UUIDPrimaryKey


class CrmConnector(UUIDPrimaryKey, Base):
    """Where a site's calls are pushed as leads: amoCRM, Bitrix24 or a signed webhook.

    `config` is safe to show (base URL, pipeline); `credentials` (tokens, webhook URLs that embed
    a secret, signing secrets) are write-only.
    """

    __tablename__ = "crm_connectors"

    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200))
    config: Mapped[dict[str, Any]]
    credentials: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
    # The deals poll (the safety net for outcome webhooks the CRM never resends): changes are
    # read from `deals_cursor` on; `deals_poll_at` is when the next poll is due (claimed by
    # moving it forward, so one worker polls a connector at a time).
    deals_cursor: Mapped[datetime | None]
    deals_poll_at: Mapped[datetime | None]
