"""Conversion destinations from the browser: connect GA4, Yandex Metrika or Google Ads (only
the fields each needs, with where to find them), set the rule of which calls qualify, see
the deliveries with their status and retry one, retire a destination. Everything goes
through crm_push's destination service, as the admin API's requests do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from app.dashboard.csrf import CsrfChecked
from app.dashboard.form_errors import field_message
from app.dashboard.service import require_admin
from app.dashboard.web import HtmlRoute, OnSite, redirect
from app.exceptions import InvalidField
from app.i18n import N_, gettext
from app.kit.outbound import OutboundPolicy
from app.models import CrmConnector, OutboxDelivery
from crm_push import deliveries as deliveries_service
from crm_push.conversion_rule import Rule
from crm_push.destinations import check as destination_check
from crm_push.destinations import service as destinations_service
from crm_push.destinations.schemas import DestinationCreate, DestinationUpdate

router = APIRouter(
    prefix="/sites/{site_id}/destinations", route_class=HtmlRoute, include_in_schema=False
)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    hint: str
    secret: bool = False
    required: bool = True
    kind: str = "text"


# What each platform asks for, and where its own settings show it.
KINDS: dict[str, tuple[str, tuple[Field, ...]]] = {
    "ga4": (
        N_("Google Analytics 4"),
        (
            Field(
                "measurement_id",
                N_("Measurement ID"),
                N_("GA4: Admin, Data streams, your web stream: the ID that starts with G-."),
            ),
            Field(
                "api_secret",
                N_("Measurement Protocol API secret"),
                N_("The same web stream: Measurement Protocol API secrets, Create."),
                secret=True,
            ),
        ),
    ),
    "yandex_metrika": (
        N_("Yandex Metrika"),
        (
            Field(
                "counter_id",
                N_("Counter number"),
                N_("Metrika: the number beside your counter's name in the list of counters."),
                kind="number",
            ),
            Field(
                "token",
                N_("OAuth token"),
                N_(
                    "oauth.yandex.ru: create an app with the metrika:offline_data access, then "
                    "get a token for it while signed in as the counter's owner."
                ),
                secret=True,
            ),
            Field(
                "target",
                N_("Goal identifier for calls"),
                N_("Metrika: Goals, add a JavaScript event goal with this identifier (call)."),
            ),
            Field(
                "deal_target",
                N_("Goal identifier for won deals"),
                N_("A second JavaScript event goal (deal_won): it receives the deal's price."),
            ),
            Field(
                "upload_calls",
                N_("Send calls through Metrika's calls upload"),
                N_(
                    "Calls then show in Metrika's call reports (talk time, missed, first-time "
                    "callers) instead of as the calls goal; won deals still go to their goal."
                ),
                required=False,
                kind="checkbox",
            ),
        ),
    ),
    "google_ads": (
        N_("Google Ads"),
        (
            Field(
                "customer_id",
                N_("Customer ID"),
                N_("Google Ads: the 10-digit number at the top right, like 123-456-7890."),
            ),
            Field(
                "conversion_action",
                N_("Conversion action ID"),
                N_(
                    "Goals, Conversions: an action of the Import kind (clicks); its ID is the "
                    "ctId in the address of its page."
                ),
            ),
            Field(
                "login_customer_id",
                N_("Manager account ID"),
                N_("Only when you reach this account through a manager account: its ID."),
                required=False,
            ),
            Field(
                "developer_token",
                N_("Developer token"),
                N_("A manager account: Tools, API Center (the token needs Basic access)."),
                secret=True,
            ),
            Field(
                "client_id",
                N_("OAuth client ID"),
                N_("Google Cloud console: APIs and services, Credentials, an OAuth client."),
            ),
            Field(
                "client_secret",
                N_("OAuth client secret"),
                N_("The same OAuth client: its secret."),
                secret=True,
            ),
            Field(
                "refresh_token",
                N_("Refresh token"),
                N_(
                    "Authorize the OAuth client for the adwords scope as a user of the account "
                    "(for instance in Google's OAuth Playground) and copy the refresh token."
                ),
                secret=True,
            ),
        ),
    ),
}
RULE_FLAGS = ("first_time_only", "answered_only", "exclude_spam", "send_value")
_CREATE: TypeAdapter[Any] = TypeAdapter(DestinationCreate)
STATUSES = ("pending", "sent", "dead")
SHOWN_DELIVERIES = 20
NOTICES = {
    "connected": N_("Connected: qualifying calls go out as they end."),
    "rule": N_("The rule is saved: it applies to calls that end from now on."),
    "retried": N_("The delivery is queued again: the worker sends it within a minute."),
    "retired": N_("The destination is retired: nothing more is sent to it."),
}


@dataclass(frozen=True, slots=True)
class DestinationView:
    destination: CrmConnector
    title: str
    rule: Rule
    deliveries: list[OutboxDelivery]
    dead: int
    pending: int


async def _views(at: OnSite, status: str | None) -> list[DestinationView]:
    found = []
    for row in await destinations_service.list_destinations(at.db, site_id=at.site.id):
        shown = await deliveries_service.list_deliveries(
            at.db, connector=row, status=status, limit=SHOWN_DELIVERIES
        )
        dead = await deliveries_service.list_deliveries(
            at.db, connector=row, status="dead", limit=1000
        )
        pending = await deliveries_service.list_deliveries(
            at.db, connector=row, status="pending", limit=1000
        )
        found.append(
            DestinationView(
                destination=row,
                title=KINDS[row.kind][0] if row.kind in KINDS else row.kind,
                rule=Rule.of(row.config),
                deliveries=shown,
                dead=len(dead),
                pending=len(pending),
            )
        )
    return found


async def _page(
    at: OnSite,
    *,
    status: str | None = None,
    notice: str | None = None,
    kind: str = "",
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    tested: dict[str, Any] | None = None,
    code: int = 200,
) -> Response:
    response = at.render(
        "destinations.html",
        nav="integrations",
        views=await _views(at, status),
        kinds=KINDS,
        flags=RULE_FLAGS,
        statuses=STATUSES,
        status=status or "",
        notice=gettext(NOTICES[notice]) if notice in NOTICES else None,
        form_kind=kind,
        values=values or {},
        errors=errors or {},
        tested=tested,
    )
    response.status_code = code
    return response


@router.get("")
async def destinations_page(
    at: OnSite,
    status: Annotated[str, Query(pattern="^(|pending|sent|dead)$")] = "",
    notice: str = "",
) -> Response:
    return await _page(at, status=status or None, notice=notice)


def _rule_from(form: Any, *, flags_given: bool) -> dict[str, Any]:
    """The rule's fields from a form: an unticked box is not sent, so it means False."""
    rule: dict[str, Any] = {}
    talk = str(form.get("min_talk_s", "")).strip()
    if talk:
        rule["min_talk_s"] = talk
    if flags_given:
        for flag in RULE_FLAGS:
            rule[flag] = form.get(flag) == "on"
    return rule


def _errors(exc: ValidationError, fields: set[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        where = next((str(p) for p in reversed(error["loc"]) if str(p) in fields), "kind")
        message = field_message(error)
        if error["type"] in ("missing", "string_too_short"):
            message = gettext("this field is required")
        errors.setdefault(where, message)
    return errors


@router.post("/connect", dependencies=[CsrfChecked])
async def connect(request: Request, at: OnSite) -> Response:
    """A destination with its credentials and rule; checked whole before anything is stored."""
    require_admin(at.account)
    form = await request.form()
    kind = str(form.get("kind", ""))
    if kind not in KINDS:
        return await _page(at, errors={"kind": gettext("choose a platform")}, code=422)
    fields = KINDS[kind][1]
    data: dict[str, Any] = {"kind": kind}
    if name := str(form.get("name", "")).strip():
        data["name"] = name
    for field in fields:
        if field.kind == "checkbox":
            data[field.name] = form.get(field.name) == "on"
            continue
        value = str(form.get(field.name, "")).strip()
        if value or field.required:
            data[field.name] = value
    data |= _rule_from(form, flags_given=True)
    shown = {
        f.name: str(data.get(f.name, "")) for f in fields if not f.secret and f.kind != "checkbox"
    } | {
        "name": name,
        "min_talk_s": str(data.get("min_talk_s", "")),
    }
    known = {f.name for f in fields} | {"name", "min_talk_s", *RULE_FLAGS}
    try:
        parsed = _CREATE.validate_python(data)
        outbound = OutboundPolicy.parse(at.page.settings.outbound_allow)
        await destinations_service.create_destination(
            at.db, at.site, parsed, now=at.now, outbound=outbound
        )
    except ValidationError as exc:
        return await _page(at, kind=kind, values=shown, errors=_errors(exc, known), code=422)
    except InvalidField as exc:
        message = exc.detail.split(": ", 1)[-1]
        return await _page(at, kind=kind, values=shown, errors={exc.field: message}, code=422)
    return redirect(f"/sites/{at.site.id}/destinations?notice=connected")


@router.post("/{destination_id}/rule", dependencies=[CsrfChecked])
async def save_rule(request: Request, at: OnSite, destination_id: uuid.UUID) -> Response:
    require_admin(at.account)
    form = await request.form()
    try:
        data = DestinationUpdate.model_validate(_rule_from(form, flags_given=True))
    except ValidationError as exc:
        errors = _errors(exc, {"min_talk_s"})
        return await _page(
            at, errors={f"rule-{destination_id}": errors.get("min_talk_s", "")}, code=422
        )
    await destinations_service.update_destination(
        at.db, site_id=at.site.id, destination_id=destination_id, data=data
    )
    return redirect(f"/sites/{at.site.id}/destinations?notice=rule")


@router.post("/{destination_id}/test", dependencies=[CsrfChecked])
async def test_connection(at: OnSite, destination_id: uuid.UUID) -> Response:
    """One harmless exchange with the platform; its answer in one line."""
    require_admin(at.account)
    row = await destinations_service.get_destination(
        at.db, site_id=at.site.id, destination_id=destination_id
    )
    outbound = OutboundPolicy.parse(at.page.settings.outbound_allow)
    result = await destination_check.check(row, outbound=outbound)
    return await _page(at, tested={"id": row.id, "ok": result.ok, "line": result.line})


@router.post("/{destination_id}/retire", dependencies=[CsrfChecked])
async def retire(at: OnSite, destination_id: uuid.UUID) -> Response:
    require_admin(at.account)
    await destinations_service.retire_destination(
        at.db, site_id=at.site.id, destination_id=destination_id, now=at.now
    )
    return redirect(f"/sites/{at.site.id}/destinations?notice=retired")


@router.post("/{destination_id}/deliveries/{delivery_id}/retry", dependencies=[CsrfChecked])
async def retry(
    at: OnSite,
    destination_id: uuid.UUID,
    delivery_id: uuid.UUID,
    status: Annotated[str, Form(pattern="^(|pending|sent|dead)$")] = "",
) -> Response:
    require_admin(at.account)
    row = await destinations_service.get_destination(
        at.db, site_id=at.site.id, destination_id=destination_id
    )
    await deliveries_service.retry(at.db, connector=row, delivery_id=delivery_id, now=at.now)
    shown = f"&status={status}" if status else ""
    return redirect(f"/sites/{at.site.id}/destinations?notice=retried{shown}")
