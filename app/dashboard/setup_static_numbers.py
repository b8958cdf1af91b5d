"""Source and offline numbers set up from the browser: create and retire, through app.numbers
as the admin API's; a number used elsewhere (409) is shown beside its field."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response
from pydantic import ValidationError

from app.dashboard.csrf import CsrfChecked
from app.dashboard.service import require_admin
from app.dashboard.setup_numbers import error_beside_field
from app.dashboard.web import HtmlRoute, OnSite, redirect
from app.exceptions import AppError
from app.numbers import service as numbers_service
from app.numbers.schemas import StaticNumberCreate

router = APIRouter(
    prefix="/sites/{site_id}/static-numbers", route_class=HtmlRoute, include_in_schema=False
)

Text = Annotated[str, Form(max_length=500)]
FIELDS = ("kind", "number", "target_number", "source", "medium", "campaign")


def _form(
    at: OnSite, values: dict[str, str], errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    response = at.render("number_new.html", nav="numbers", values=values, errors=errors or {})
    response.status_code = status
    return response


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
        errors: dict[str, str] = {}
        for error in exc.errors():
            where = str(error["loc"][0]) if error["loc"] else "source"
            errors.setdefault(
                where if where in FIELDS else "source",
                str(error["msg"]).removeprefix("Value error, "),
            )
        return _form(at, values, errors, status=422)
    try:
        async with at.db.begin_nested():
            await numbers_service.create_static_number(at.db, at.site, data, now=at.now)
    except AppError as exc:
        field, message = error_beside_field(exc.detail)
        return _form(at, values, {field if field in FIELDS else "number": message}, exc.status_code)
    return redirect(f"/sites/{at.site.id}/numbers")


@router.post("/{number_id}/retire", dependencies=[CsrfChecked])
async def retire_number(at: OnSite, number_id: uuid.UUID) -> Response:
    require_admin(at.account)
    await numbers_service.retire_static_number(
        at.db, site_id=at.site.id, number_id=number_id, now=at.now
    )
    return redirect(f"/sites/{at.site.id}/numbers")
