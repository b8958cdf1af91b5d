"""Source and offline numbers set up from the browser: create, edit and retire, through
app.numbers as the admin API's; a number used elsewhere (409) is shown beside its field."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response
from pydantic import ValidationError

from app.dashboard.csrf import CsrfChecked
from app.dashboard.form_errors import field_message
from app.dashboard.service import require_admin
from app.dashboard.setup_numbers import error_beside_field
from app.dashboard.web import HtmlRoute, OnSite, redirect
from app.exceptions import AppError
from app.models import TrackingNumber
from app.numbers import service as numbers_service
from app.numbers.schemas import StaticNumberCreate, StaticNumberUpdate

router = APIRouter(
    prefix="/sites/{site_id}/static-numbers", route_class=HtmlRoute, include_in_schema=False
)

Text = Annotated[str, Form(max_length=500)]
FIELDS = ("kind", "number", "target_number", "source", "medium", "campaign")


def _form(
    at: OnSite,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
    *,
    row: TrackingNumber | None = None,
) -> Response:
    response = at.render(
        "number_new.html", nav="numbers", values=values, errors=errors or {}, row=row
    )
    response.status_code = status
    return response


def _validation_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        where = str(error["loc"][0]) if error["loc"] else "source"
        errors.setdefault(
            where if where in FIELDS else "source",
            field_message(error),
        )
    return errors


@router.get("/new")
async def new_number(at: OnSite, kind: str = "source") -> Response:
    require_admin(at.account)
    values = dict.fromkeys(FIELDS, "") | {"kind": "offline" if kind == "offline" else "source"}
    return _form(at, values)


@router.post("/new", dependencies=[CsrfChecked])
async def create_number(
    at: OnSite,
    kind: Text = "source",
    number: Text = "",
    target_number: Text = "",
    source: Text = "",
    medium: Text = "",
    campaign: Text = "",
) -> Response:
    require_admin(at.account)
    values = {
        "kind": kind,
        "number": number,
        "target_number": target_number,
        "source": source,
        "medium": medium,
        "campaign": campaign,
    }
    try:
        data = StaticNumberCreate.model_validate(
            {key: value.strip() or None for key, value in values.items()}
        )
    except ValidationError as exc:
        return _form(at, values, _validation_errors(exc), status=422)
    try:
        async with at.db.begin_nested():
            await numbers_service.create_static_number(at.db, at.site, data, now=at.now)
    except AppError as exc:
        field, message = error_beside_field(exc.detail)
        return _form(at, values, {field if field in FIELDS else "number": message}, exc.status_code)
    return redirect(f"/sites/{at.site.id}/numbers")


async def _values_of(at: OnSite, row: TrackingNumber) -> dict[str, str]:
    targets = await numbers_service.target_numbers(at.db, [row.target_number_id])
    return {
        "kind": row.kind,
        "number": row.number,
        "target_number": targets.get(row.target_number_id, "") if row.target_number_id else "",
        "source": row.source or "",
        "medium": row.medium or "",
        "campaign": row.campaign or "",
    }


@router.get("/{number_id}/edit")
async def edit_number_form(at: OnSite, number_id: uuid.UUID) -> Response:
    require_admin(at.account)
    row = await numbers_service.get_static_number(at.db, site_id=at.site.id, number_id=number_id)
    if row.retired_at is not None:
        return redirect(f"/sites/{at.site.id}/numbers")
    return _form(at, await _values_of(at, row), row=row)


@router.post("/{number_id}/edit", dependencies=[CsrfChecked])
async def edit_number(
    at: OnSite,
    number_id: uuid.UUID,
    source: Text = "",
    medium: Text = "",
    campaign: Text = "",
) -> Response:
    """Who sees a source number, or an offline number's label; the number itself stays (retire
    it and add another to change it, so its past calls keep their attribution)."""
    require_admin(at.account)
    row = await numbers_service.get_static_number(at.db, site_id=at.site.id, number_id=number_id)
    given = {"source": source, "medium": medium, "campaign": campaign}
    values = await _values_of(at, row) | given
    try:
        data = StaticNumberUpdate.model_validate(
            {key: value.strip() or None for key, value in given.items()}
        )
    except ValidationError as exc:
        return _form(at, values, _validation_errors(exc), status=422, row=row)
    try:
        async with at.db.begin_nested():
            await numbers_service.update_static_number(
                at.db, site_id=at.site.id, number_id=number_id, data=data, replace=True
            )
    except AppError as exc:
        field, message = error_beside_field(exc.detail)
        row = await numbers_service.get_static_number(
            at.db, site_id=at.site.id, number_id=number_id
        )
        return _form(
            at, values, {field if field in FIELDS else "source": message}, exc.status_code, row=row
        )
    return redirect(f"/sites/{at.site.id}/numbers")


@router.post("/{number_id}/retire", dependencies=[CsrfChecked])
async def retire_number(at: OnSite, number_id: uuid.UUID) -> Response:
    require_admin(at.account)
    await numbers_service.retire_static_number(
        at.db, site_id=at.site.id, number_id=number_id, now=at.now
    )
    return redirect(f"/sites/{at.site.id}/numbers")
