"""The form endpoint the snippet posts to, and the leads list of the admin API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from app.calls.endpoints import CallsFrom, CallsTo
from app.deps import AdminOnly, DbSession
from app.leads import service
from app.leads.schemas import FormAccepted, FormRequest, LeadList
from app.reports.period import resolve_bounds
from app.sites import service as sites_service
from app.tracking import http
from app.tracking.endpoints import json_body, parse, public_call

tracker = APIRouter(prefix="/t/{public_key}", tags=["tracker"])
router = APIRouter(prefix="/api/v1/sites/{site_id}/leads", tags=["leads"], dependencies=[AdminOnly])


@tracker.post(
    "/sessions/{session_id}/forms",
    status_code=201,
    response_model=FormAccepted,
    openapi_extra=json_body(FormRequest),
)
async def submit_form(public_key: str, session_id: uuid.UUID, request: Request) -> JSONResponse:
    """A form submitted on the site during the visit `session_id`: stored as a lead with the
    visit's attribution and pushed to the site's CRMs. The site must take form leads
    (`forms_enabled`); where it asks for consent, the body carries `"consent": true`."""
    async with public_call(request, public_key) as call:
        data = parse(FormRequest, await http.read_json_body(request))
        lead = await service.submit_form(
            call.db, site=call.site, session_id=session_id, data=data, now=call.now
        )
        answer = FormAccepted(lead_id=lead.id)
    return JSONResponse(
        answer.model_dump(mode="json"),
        status_code=201,
        headers={**call.cors, "Cache-Control": "no-store"},
    )


@router.get("", response_model=LeadList)
async def list_leads(
    site_id: uuid.UUID,
    db: DbSession,
    since: CallsFrom = None,
    until: CallsTo = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> LeadList:
    """Every lead of the site in [from, to), newest first: the calls the reports count as leads
    (answered, not possible spam) and the forms sent on the site."""
    site = await sites_service.get_site(db, site_id)
    start, end = resolve_bounds(since, until, timezone=site.timezone)
    items = await service.list_leads(db, site_id=site_id, since=start, until=end, limit=limit)
    return LeadList(items=items)
