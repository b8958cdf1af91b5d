"""Ad costs: a CSV upload checked whole and previewed before anything is stored, and the
costs already stored for the period."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response

from app.costs import service as costs_service
from app.costs.parsing import (
    COLUMNS,
    MAX_BYTES,
    TOO_LARGE,
    CostRow,
    CostRowsInvalid,
    RowError,
    decode,
)
from app.dashboard import analytics
from app.dashboard.csrf import CsrfChecked
from app.dashboard.service import require_admin
from app.dashboard.web import HtmlRoute, OnSite, redirect
from app.exceptions import InvalidField, PayloadTooLarge
from app.i18n import gettext
from app.reports.params import From, To

router = APIRouter(prefix="/sites/{site_id}/costs", route_class=HtmlRoute, include_in_schema=False)

EXAMPLE = ",".join(COLUMNS) + "\n2026-11-01,yandex,cpc,sofas,1500.00,RUB\n"
PREVIEW_ROWS = 200


async def _page(
    at: OnSite,
    *,
    since: str | None = None,
    until: str | None = None,
    notice: str | None = None,
    errors: list[RowError] | None = None,
    preview: costs_service.UploadResult | None = None,
    csv_text: str = "",
    status: int = 200,
) -> Response:
    period = analytics.period_of(at.site, since, until, now=at.now)
    stored = await costs_service.list_costs(
        at.db, site=at.site, first_day=period.first_day, last_day=period.last_day
    )
    by_source: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for cost in stored:
        by_source[(cost.source, cost.currency)] += cost.cost
    response = at.render(
        "costs.html",
        nav="costs",
        period=period,
        stored=stored,
        by_source=sorted(by_source.items()),
        notice=notice,
        errors=errors,
        preview=preview,
        preview_rows=preview.rows[:PREVIEW_ROWS] if preview else [],
        csv_text=csv_text,
        example=EXAMPLE,
    )
    response.status_code = status
    return response


@router.get("")
async def costs(at: OnSite, since: From = None, until: To = None, imported: int = -1) -> Response:
    notice = f"{imported} cost rows imported." if imported >= 0 else None
    return await _page(at, since=since, until=until, notice=notice)


async def _text(file: UploadFile | None, pasted: str) -> str:
    if file is not None and file.filename:
        data = await file.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise PayloadTooLarge(TOO_LARGE)
        return decode(data)
    if pasted.strip():
        return pasted
    raise InvalidField("file", gettext("choose a CSV file or paste its text"))


async def _parse(text: str, *, currency: str) -> list[CostRow]:
    rows = await costs_service.parse_csv_off_loop(text, default_currency=currency)
    if not rows:
        raise InvalidField("file", gettext("the CSV has a header but no rows"))
    return rows


@router.post("/preview", dependencies=[CsrfChecked])
async def preview(
    at: OnSite,
    file: Annotated[UploadFile | None, File()] = None,
    pasted: Annotated[str, Form(max_length=MAX_BYTES)] = "",
) -> Response:
    """Check the whole file; show every bad row, or what would be stored, storing nothing."""
    require_admin(at.account)
    text = await _text(file, pasted)
    try:
        rows = await _parse(text, currency=at.site.currency)
    except CostRowsInvalid as exc:
        return await _page(at, errors=exc.errors, csv_text=text, status=422)
    result = await costs_service.upload_costs(
        at.db, site=at.site, rows=rows, dry_run=True, now=at.now
    )
    return await _page(at, preview=result, csv_text=text)


@router.post("/import", dependencies=[CsrfChecked])
async def import_costs(
    at: OnSite, csv_text: Annotated[str, Form(max_length=MAX_BYTES)]
) -> Response:
    """Store what the preview showed; checked again, since the form came back from a browser."""
    require_admin(at.account)
    try:
        rows = await _parse(csv_text, currency=at.site.currency)
    except CostRowsInvalid as exc:
        return await _page(at, errors=exc.errors, csv_text=csv_text, status=422)
    result = await costs_service.upload_costs(
        at.db, site=at.site, rows=rows, dry_run=False, now=at.now
    )
    return redirect(f"/sites/{at.site.id}/costs?imported={len(result.rows)}")
