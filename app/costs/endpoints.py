from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.costs import service
from app.costs.parsing import COLUMNS, MAX_BYTES, TOO_LARGE
from app.costs.schemas import CostList, CostOut, CostUpload
from app.deps import AdminOnly, DbSession, Now
from app.kit.http import read_body
from app.reports.params import From, To
from app.reports.period import resolve_period
from app.sites import service as sites_service

router = APIRouter(prefix="/api/v1/sites/{site_id}", tags=["costs"], dependencies=[AdminOnly])

_ROW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["date", "source", "cost", "currency"],
    "properties": {
        "date": {"type": "string", "format": "date"},
        "source": {"type": "string", "maxLength": 200},
        "medium": {"type": "string", "maxLength": 200},
        "campaign": {"type": "string", "maxLength": 500},
        "cost": {"type": ["number", "string"], "minimum": 0},
        "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
    },
}
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": ",".join(COLUMNS) + "\n2026-11-01,yandex,cpc,sofas,1500.00,RUB\n",
            },
            "application/json": {"schema": {"type": "array", "items": _ROW_SCHEMA}},
        },
    }
}


@router.post(
    "/costs",
    response_model=CostUpload,
    openapi_extra=_UPLOAD_BODY,
    responses={413: {"description": "over 10 MB or 50,000 rows"}, 415: {}},
)
async def upload_costs(
    site_id: uuid.UUID,
    request: Request,
    db: DbSession,
    now: Now,
    dry_run: Annotated[
        bool, Query(description="Check and parse only; store nothing (the upload preview).")
    ] = False,
) -> CostUpload:
    """Ad spend per day and channel, as CSV (`date,source,medium,campaign,cost,currency`, and
    `term` optionally), a report exported from Yandex Direct or Google Ads as it is (Russian,
    English or Spanish column names; the site's currency unless the file names one), or
    JSON rows. A row already stored for the same day, source, medium and campaign is replaced.
    Any bad row is a 422 naming its row and column, and nothing of the upload is kept."""
    site = await sites_service.get_active_site(db, site_id)
    # Capped before parsing (a declared size is refused unread), and parsed off the loop.
    body = await read_body(request, limit=MAX_BYTES, too_large=TOO_LARGE)
    rows = await service.parse_upload_off_loop(
        body, request.headers.get("content-type", ""), default_currency=site.currency
    )
    result = await service.upload_costs(db, site=site, rows=rows, dry_run=dry_run, now=now)
    return CostUpload(
        dry_run=result.dry_run,
        inserted=result.inserted,
        updated=result.updated,
        rows=[CostOut.of(row) for row in result.rows],
    )


@router.get("/costs", response_model=CostList)
async def list_costs(
    site_id: uuid.UUID, db: DbSession, now: Now, since: From = None, until: To = None
) -> CostList:
    """The stored costs of the days the period touches, by day and channel."""
    site = await sites_service.get_site(db, site_id)
    period = resolve_period(since, until, timezone=site.timezone, now=now)
    costs = await service.list_costs(
        db, site=site, first_day=period.first_day, last_day=period.last_day
    )
    return CostList(items=[CostOut.of(cost) for cost in costs])
