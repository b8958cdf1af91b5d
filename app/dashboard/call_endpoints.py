"""A call's page as a workspace: notes, tags, the lead's status and a deal set by hand, beside
what the PBX and the attribution said. Everyone who sees the site reads it; admins change it."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from app.calls import workspace
from app.calls.workspace import LeadStatus
from app.dashboard import analytics, inventory
from app.dashboard.csrf import CsrfChecked
from app.dashboard.service import require_admin
from app.dashboard.web import HtmlRoute, OnSite, redirect
from app.exceptions import InvalidField
from app.i18n import N_, gettext
from crm_push import deals as deals_service

router = APIRouter(prefix="/sites/{site_id}", route_class=HtmlRoute, include_in_schema=False)

NOTICES = {
    "retried": N_("The delivery is queued again: the worker sends it within a minute."),
    "note-added": N_("The note is added."),
    "tags-saved": N_("The tags are saved."),
    "status-saved": N_("The lead's status is saved."),
    "deal-saved": N_("The deal is saved: reports count it from now on."),
    "deal-removed": N_("The manual deal is removed: the CRM's deals of this call count again."),
}
Short = Annotated[str, Form(max_length=200)]
_SPACES = (" ", "\u00a0", "\u202f", "\u2009")


async def _page(
    at: OnSite,
    call_id: uuid.UUID,
    *,
    notice: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    detail = await analytics.call_detail(at.db, site=at.site, call_id=call_id)
    deliveries = await inventory.call_deliveries(at.db, site=at.site, call=detail.call)
    manual = detail.manual_deal
    defaults: dict[str, Any] = {
        "note": "",
        "tags": ", ".join(detail.tags),
        "deal_status": manual.status if manual else "won",
        "revenue": f"{manual.revenue:.2f}" if manual else "",
        "currency": manual.currency if manual else at.site.currency,
    }
    response = at.render(
        "call.html",
        nav="calls",
        detail=detail,
        deliveries=deliveries,
        conversions=await inventory.call_conversions(at.db, site=at.site, call=detail.call),
        notice=gettext(NOTICES[notice]) if notice in NOTICES else None,
        errors=errors or {},
        values=defaults | (values or {}),
        statuses=list(LeadStatus),
    )
    response.status_code = status_code
    return response


def _failed(exc: InvalidField) -> dict[str, str]:
    return {exc.field: exc.detail.removeprefix(f"{exc.field}: ")}


def _done(at: OnSite, call_id: uuid.UUID, notice: str) -> Response:
    return redirect(f"{at.base}/calls/{call_id}?notice={notice}")


@router.get("/calls/{call_id}")
async def call(at: OnSite, call_id: uuid.UUID, notice: str = "") -> Response:
    return await _page(at, call_id, notice=notice)


@router.post("/calls/{call_id}/notes", dependencies=[CsrfChecked])
async def add_note(
    at: OnSite, call_id: uuid.UUID, note: Annotated[str, Form(max_length=10_000)] = ""
) -> Response:
    require_admin(at.account)
    detail = await analytics.call_detail(at.db, site=at.site, call_id=call_id)
    try:
        await workspace.add_note(
            at.db,
            call=detail.call,
            author_id=at.account.user.id,
            author_email=at.account.user.email,
            body=note,
            now=at.now,
        )
    except InvalidField as exc:
        return await _page(
            at, call_id, errors=_failed(exc), values={"note": note}, status_code=exc.status_code
        )
    return _done(at, call_id, "note-added")


@router.post("/calls/{call_id}/tags", dependencies=[CsrfChecked])
async def set_tags(
    at: OnSite, call_id: uuid.UUID, tags: Annotated[str, Form(max_length=2000)] = ""
) -> Response:
    require_admin(at.account)
    detail = await analytics.call_detail(at.db, site=at.site, call_id=call_id)
    try:
        await workspace.set_tags(at.db, call=detail.call, raw=tags, now=at.now)
    except InvalidField as exc:
        return await _page(
            at, call_id, errors=_failed(exc), values={"tags": tags}, status_code=exc.status_code
        )
    return _done(at, call_id, "tags-saved")


@router.post("/calls/{call_id}/lead-status", dependencies=[CsrfChecked])
async def set_lead_status(
    at: OnSite, call_id: uuid.UUID, status: Annotated[LeadStatus, Form()]
) -> Response:
    require_admin(at.account)
    detail = await analytics.call_detail(at.db, site=at.site, call_id=call_id)
    await workspace.set_lead_status(at.db, call=detail.call, status=status, now=at.now)
    return _done(at, call_id, "status-saved")


def parse_amount(raw: str) -> Decimal:
    """An amount as people type it: "12 500,50", "12500.5", "12 500"."""
    text = raw.strip()
    for space in _SPACES:
        text = text.replace(space, "")
    text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidField(
            "revenue", gettext("is not an amount such as 12500 or 12500.50")
        ) from None
    if not amount.is_finite():
        raise InvalidField("revenue", gettext("is not an amount such as 12500 or 12500.50"))
    return amount


@router.post("/calls/{call_id}/deal", dependencies=[CsrfChecked])
async def set_deal(
    at: OnSite,
    call_id: uuid.UUID,
    status: Short = "",
    revenue: Short = "",
    currency: Short = "",
) -> Response:
    require_admin(at.account)
    detail = await analytics.call_detail(at.db, site=at.site, call_id=call_id)
    try:
        amount = parse_amount(revenue)
        await deals_service.set_manual_deal(
            at.db,
            site=at.site,
            call=detail.call,
            status=status,
            revenue=amount,
            currency=currency,
            now=at.now,
        )
    except InvalidField as exc:
        values = {"deal_status": status, "revenue": revenue, "currency": currency}
        errors = _failed(exc)
        return await _page(at, call_id, errors=errors, values=values, status_code=422)
    return _done(at, call_id, "deal-saved")


@router.post("/calls/{call_id}/deal/remove", dependencies=[CsrfChecked])
async def remove_deal(at: OnSite, call_id: uuid.UUID) -> Response:
    require_admin(at.account)
    detail = await analytics.call_detail(at.db, site=at.site, call_id=call_id)
    await deals_service.remove_manual_deal(at.db, site=at.site, call=detail.call)
    return _done(at, call_id, "deal-removed")
