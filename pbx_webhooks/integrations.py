"""What a webhook needs of its integration and site, kept as an in-process snapshot (see
app.snapshots for when it is renewed): every PBX event used to read both from the database."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PbxIntegration, Site
from app.snapshots import SnapshotCache
from crm_push.outbox import ConnectorRef, live_connectors


@dataclass(frozen=True, slots=True)
class Hook:
    integration_id: uuid.UUID
    site_id: uuid.UUID
    country: str  # the site's: numbers are read as a local caller writes them
    provider: str
    credentials: Mapping[str, Any]  # the integration's settings and secrets together
    retired: bool
    connectors: tuple[ConnectorRef, ...]  # the site's live CRM connectors, for the outbox


class HookCache:
    def __init__(self, **snapshot_options: Any) -> None:
        self._snapshots: SnapshotCache[uuid.UUID, Hook | None] = SnapshotCache(**snapshot_options)

    async def get(self, db: AsyncSession, integration_id: uuid.UUID) -> Hook | None:
        """The integration's snapshot, or None when there is no such integration."""
        return await self._snapshots.get(integration_id, lambda: load(db, integration_id))


async def load(db: AsyncSession, integration_id: uuid.UUID) -> Hook | None:
    integration = await db.get(PbxIntegration, integration_id)
    if integration is None:
        return None
    site = await db.get(Site, integration.site_id)
    assert site is not None  # a foreign key
    return Hook(
        integration_id=integration.id,
        site_id=site.id,
        country=site.country,
        provider=integration.provider,
        credentials={**integration.settings, **integration.credentials},
        retired=integration.retired_at is not None,
        connectors=tuple(await live_connectors(db, site_id=site.id)),
    )
