"""CRM connectors from the dashboard: "test the connection" (one real, harmless request
through the connector's guarded client, the CRM's answer in one line)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import Response

from app.dashboard import inventory
from app.dashboard.csrf import CsrfChecked
from app.dashboard.service import require_admin
from app.dashboard.web import HtmlRoute, OnSite
from app.kit.outbound import OutboundPolicy
from crm_push import connection_check
from crm_push import service as crm_service

router = APIRouter(prefix="/sites/{site_id}/crm", route_class=HtmlRoute, include_in_schema=False)


@router.post("/{connector_id}/test", dependencies=[CsrfChecked])
async def crm_test(at: OnSite, connector_id: uuid.UUID) -> Response:
    require_admin(at.account)
    connector = await crm_service.get_connector(
        at.db, site_id=at.site.id, connector_id=connector_id
    )
    outbound = OutboundPolicy.parse(at.page.settings.outbound_allow)
    result = await connection_check.check(connector, outbound=outbound, now=at.now)
    public_url = at.page.settings.public_url
    view = await inventory.integrations(at.db, site=at.site, public_url=public_url)
    response = at.render(
        "integrations.html",
        nav="integrations",
        view=view,
        notice=None,
        created=None,
        tested={"connector_id": connector.id, "ok": result.ok, "line": result.line},
    )
    response.status_code = 200
    return response
