"""Dynamic pools set up from the browser: numbers pasted one per line in any written form,
sizing advice from the Erlang engine, retire. Writes go through app.numbers (and the pool
store), as the admin API's do; a refused form rolls the whole request back."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response
from pydantic import ValidationError

from app.dashboard.csrf import CsrfChecked
from app.dashboard.form_errors import field_message
from app.dashboard.service import require_admin
from app.dashboard.web import HtmlRoute, OnSite, redirect
from app.deps import Store
from app.exceptions import AppError
from app.i18n import formatting, gettext
from app.models import Pool
from app.models.pool import DEFAULT_COOLDOWN_S, DEFAULT_IDLE_TIMEOUT_S
from app.numbers import service as numbers_service
from app.numbers.schemas import PoolCreate, PoolUpdate
from numberpool import service as pool_service
from numberpool import sizing

router = APIRouter(prefix="/sites/{site_id}/pools", route_class=HtmlRoute, include_in_schema=False)

Text = Annotated[str, Form(max_length=40_000)]
# What people type for "per day": the busiest hour carries about a tenth of a day's visits
# on a typical small-business site; the advice says so, so the marketer can correct it.
BUSY_HOUR_SHARE = 0.1
SESSION_MINUTES = 4.0
COVERAGE = 0.99
FIELD = re.compile(r"^(?P<field>[a-z_]+)(?:\[(?P<index>\d+)\])?: (?P<message>.*)$", re.S)


def pasted_numbers(raw: str) -> list[str]:
    """One number per line, blank lines skipped, as people paste them from a spreadsheet."""
    return [line.strip() for line in raw.splitlines() if line.strip()]


def error_beside_field(detail: str) -> tuple[str, str]:
    """A service's 'numbers[2]: ...' as ('numbers', 'line 3: ...') for the form."""
    found = FIELD.match(detail)
    if found is None:
        return "numbers", detail
    message = found["message"]
    if found["index"] is not None:
        message = gettext(
            "line %(line)s: %(problem)s", line=int(found["index"]) + 1, problem=message
        )
    return found["field"], message


def sizing_advice(visits: float | None, per: str, *, idle_s: int, cooldown_s: int) -> str | None:
    if visits is None or visits < 0:
        return None
    per_hour = visits * BUSY_HOUR_SHARE if per == "day" else visits
    size = sizing.size_pool(
        sessions_per_hour=per_hour,
        session_minutes=SESSION_MINUTES,
        coverage=COVERAGE,
        idle_timeout_s=idle_s,
        cooldown_s=cooldown_s,
    )
    return gettext(
        "About %(visits)s visits in the busiest hour need %(numbers)s numbers, so that "
        "%(share)s of visitors see a number of their own.",
        visits=formatting.number(per_hour, 0 if float(per_hour).is_integer() else 1),
        numbers=size.numbers,
        share=formatting.percent(COVERAGE, 0),
    )


def validation_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        where = str(error["loc"][0]) if error["loc"] else "numbers"
        errors.setdefault(where, field_message(error))
    return errors


def _seconds(raw: str) -> int | str:
    """A whole number of seconds, or the text as typed, for the model to refuse by name."""
    try:
        return int(raw.strip())
    except ValueError:
        return raw


def _values(**given: str) -> dict[str, str]:
    values = {
        "target_number": "",
        "numbers": "",
        "idle_timeout_s": str(DEFAULT_IDLE_TIMEOUT_S),
        "cooldown_s": str(DEFAULT_COOLDOWN_S),
    }
    return values | {key: value for key, value in given.items() if value}


def _form(
    at: OnSite,
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    advice: str | None = None,
    visits: str = "",
    per: str = "day",
    status: int = 200,
) -> Response:
    response = at.render(
        "pool_new.html",
        nav="numbers",
        values=values,
        errors=errors or {},
        advice=advice,
        visits=visits,
        per=per,
    )
    response.status_code = status
    return response


@router.get("/new")
async def new_pool(
    at: OnSite,
    visits: Annotated[float | None, Query(ge=0, le=10_000_000)] = None,
    per: Annotated[str, Query(pattern="^(day|hour)$")] = "day",
) -> Response:
    require_admin(at.account)
    advice = sizing_advice(
        visits, per, idle_s=DEFAULT_IDLE_TIMEOUT_S, cooldown_s=DEFAULT_COOLDOWN_S
    )
    return _form(
        at, values=_values(), advice=advice, visits="" if visits is None else f"{visits:g}", per=per
    )


@router.post("/new", dependencies=[CsrfChecked])
async def create_pool(
    at: OnSite,
    target_number: Text = "",
    numbers: Text = "",
    idle_timeout_s: Text = "",
    cooldown_s: Text = "",
) -> Response:
    require_admin(at.account)
    values = _values(
        target_number=target_number,
        numbers=numbers,
        idle_timeout_s=idle_timeout_s,
        cooldown_s=cooldown_s,
    )
    try:
        data = PoolCreate.model_validate(
            {
                "target_number": target_number.strip(),
                "numbers": pasted_numbers(numbers),
                "idle_timeout_s": _seconds(values["idle_timeout_s"]),
                "cooldown_s": _seconds(values["cooldown_s"]),
            }
        )
    except ValidationError as exc:
        return _form(at, values=values, errors=validation_errors(exc), status=422)
    try:
        # A savepoint: the target number may be created before a pasted number is refused.
        async with at.db.begin_nested():
            pool = await numbers_service.create_pool(at.db, at.site, data, now=at.now)
    except AppError as exc:
        field, message = error_beside_field(exc.detail)
        return _form(at, values=values, errors={field: message}, status=exc.status_code)
    return redirect(f"/sites/{at.site.id}/numbers?pool={pool.id}")


async def _edit_values(at: OnSite, pool: Pool) -> dict[str, str]:
    numbers = (await numbers_service.pool_numbers(at.db, [pool]))[pool.id]
    targets = await numbers_service.target_numbers(at.db, [pool.target_number_id])
    return {
        "target_number": targets.get(pool.target_number_id, ""),
        "numbers": "\n".join(numbers),
        "idle_timeout_s": str(pool.idle_timeout_s),
        "cooldown_s": str(pool.cooldown_s),
        "late_call_window_s": str(pool.late_call_window_s),
    }


def _edit_form(
    at: OnSite,
    pool: Pool,
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    response = at.render(
        "pool_edit.html", nav="numbers", pool=pool, values=values, errors=errors or {}
    )
    response.status_code = status
    return response


@router.get("/{pool_id}/edit")
async def edit_pool_form(at: OnSite, pool_id: uuid.UUID) -> Response:
    require_admin(at.account)
    pool = await numbers_service.get_pool(at.db, site_id=at.site.id, pool_id=pool_id)
    if pool.retired_at is not None:
        return redirect(f"/sites/{at.site.id}/numbers")
    return _edit_form(at, pool, values=await _edit_values(at, pool))


@router.post("/{pool_id}/edit", dependencies=[CsrfChecked])
async def edit_pool(
    at: OnSite,
    pool_id: uuid.UUID,
    store: Store,
    target_number: Text = "",
    numbers: Text = "",
    idle_timeout_s: Text = "",
    cooldown_s: Text = "",
    late_call_window_s: Text = "",
) -> Response:
    """As the admin API's PATCH (the whole list of numbers: lines added are added, lines
    removed are retired), plus the target number; the store reloads after the commit."""
    require_admin(at.account)
    pool = await numbers_service.get_pool(at.db, site_id=at.site.id, pool_id=pool_id)
    values = {
        "target_number": target_number,
        "numbers": numbers,
        "idle_timeout_s": idle_timeout_s,
        "cooldown_s": cooldown_s,
        "late_call_window_s": late_call_window_s,
    }
    pasted = pasted_numbers(numbers)
    if not target_number.strip():
        return _edit_form(
            at,
            pool,
            values=values,
            errors={"target_number": gettext("Type the number calls ring.")},
            status=422,
        )
    if not pasted:
        message = gettext("Paste at least one number; to stop using the pool, retire it.")
        return _edit_form(at, pool, values=values, errors={"numbers": message}, status=422)
    try:
        data = PoolUpdate.model_validate(
            {
                "numbers": pasted,
                "idle_timeout_s": _seconds(idle_timeout_s),
                "cooldown_s": _seconds(cooldown_s),
                "late_call_window_s": _seconds(late_call_window_s),
            }
        )
    except ValidationError as exc:
        return _edit_form(at, pool, values=values, errors=validation_errors(exc), status=422)
    try:
        async with at.db.begin_nested():
            pool = await numbers_service.update_pool(
                at.db, at.site, pool_id, data, now=at.now, target_number=target_number.strip()
            )
    except AppError as exc:
        field, message = error_beside_field(exc.detail)
        pool = await numbers_service.get_pool(at.db, site_id=at.site.id, pool_id=pool_id)
        return _edit_form(at, pool, values=values, errors={field: message}, status=exc.status_code)
    # The store must see the committed numbers and settings before it leases again.
    await at.db.commit()
    await pool_service.refresh_pool(at.db, store, pool=pool, now=at.now)
    return redirect(f"/sites/{at.site.id}/numbers?pool={pool.id}")


@router.post("/{pool_id}/retire", dependencies=[CsrfChecked])
async def retire_pool(at: OnSite, pool_id: uuid.UUID, store: Store) -> Response:
    """As the admin API's DELETE: the numbers are freed and the store forgets the pool."""
    require_admin(at.account)
    pool = await numbers_service.retire_pool(at.db, site_id=at.site.id, pool_id=pool_id, now=at.now)
    await at.db.commit()
    await store.drop(str(pool.id))
    return redirect(f"/sites/{at.site.id}/numbers")
