"""The onboarding checklist of a site's Overview: each step turns green from real data (a read
model of the dashboard: EXISTS queries, no writes)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.dashboard.setup_sites import snippet_status
from app.models import (
    AdCost,
    CrmConnector,
    OutboxDelivery,
    PbxEvent,
    PbxIntegration,
    Site,
    TrackingNumber,
)
from crm_push.connectors import CRM_KINDS


@dataclass(frozen=True, slots=True)
class Step:
    key: str
    title: str
    done: bool
    href: str


@dataclass(frozen=True, slots=True)
class Checklist:
    steps: list[Step]

    @property
    def complete(self) -> bool:
        return all(step.done for step in self.steps)


async def _any(db: AsyncSession, condition: ColumnElement[bool]) -> bool:
    return bool(await db.scalar(select(exists().where(condition))))


async def checklist(db: AsyncSession, site: Site) -> Checklist:
    base = f"/sites/{site.id}"
    numbers = await _any(
        db, (TrackingNumber.site_id == site.id) & TrackingNumber.retired_at.is_(None)
    )
    pbx = await _any(
        db,
        PbxEvent.integration_id.in_(
            select(PbxIntegration.id).where(PbxIntegration.site_id == site.id)
        ),
    )
    crm = await _any(
        db,
        (OutboxDelivery.status == "sent")
        & OutboxDelivery.connector_id.in_(
            select(CrmConnector.id).where(
                CrmConnector.site_id == site.id, CrmConnector.kind.in_(sorted(CRM_KINDS))
            )
        ),
    )
    costs = await _any(db, AdCost.site_id == site.id)
    seen = (await snippet_status(db, site)).ok
    return Checklist(
        [
            Step("snippet", "The snippet is seen on the site", seen, f"{base}/site"),
            Step("numbers", "Tracking numbers are set", numbers, f"{base}/numbers"),
            Step("pbx", "The PBX sends call events", pbx, f"{base}/integrations"),
            Step("crm", "The CRM receives leads", crm, f"{base}/integrations"),
            Step("costs", "Ad costs are uploaded", costs, f"{base}/costs"),
        ]
    )
