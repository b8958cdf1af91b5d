"""CRM connectors from the dashboard: "test the connection" (one real, harmless request
through the connector's guarded client, the CRM's answer in one line)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from app.dashboard import inventory
from app.dashboard.csrf import CsrfChecked
from app.dashboard.service import require_admin
from app.dashboard.web import HtmlRoute, OnSite, SitePage
from app.exceptions import InvalidField
from app.i18n import N_
from app.kit.outbound import OutboundPolicy
from app.mail import mail_configured
from crm_push import connection_check
from crm_push import service as crm_service
from crm_push.schemas import CrmConnectorCreate

router = APIRouter(prefix="/sites/{site_id}/crm", route_class=HtmlRoute, include_in_schema=False)


# What each CRM asks for on the connect form (the signed webhook keeps its own form).
CRM_FIELDS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "amocrm": (("base_url", N_("Account address"), False), ("token", N_("Long-lived token"), True)),
    "bitrix24": (("webhook_url", N_("Incoming webhook URL (crm scope)"), True),),
}
_CREATE: TypeAdapter[Any] = TypeAdapter(CrmConnectorCreate)


async def _page(
    at: SitePage,
    *,
    tested: dict[str, Any] | None = None,
    crm_errors: dict[str, str] | None = None,
    crm_kind: str = "",
    crm_values: dict[str, str] | None = None,
    created: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    public_url = at.page.settings.public_url
    view = await inventory.integrations(at.db, site=at.site, public_url=public_url)
    context: dict[str, Any] = {
        "nav": "integrations",
        "view": view,
        "notice": None,
        "created": created,
        "crm_fields": CRM_FIELDS,
        "crm_errors": crm_errors or {},
        "crm_kind": crm_kind,
        "crm_values": crm_values or {},
        "alert_mail_on": mail_configured(at.page.settings),
    }
    if tested is not None:
        context["tested"] = tested
    response = at.render("integrations.html", context)
    response.status_code = status
    return response


@router.post("/connect", dependencies=[CsrfChecked])
async def crm_connect(request: Request, at: OnSite) -> Response:
    """amoCRM or Bitrix24 with its credentials; checked whole before anything is stored."""
    require_admin(at.account)
    form = await request.form()
    kind = str(form.get("kind", ""))
    if kind not in CRM_FIELDS:
        return await _page(at, crm_errors={"kind": "choose a CRM"}, status=422)
    data: dict[str, str] = {"kind": kind}
    if name := str(form.get("name", "")).strip():
        data["name"] = name
    for field, _, _ in CRM_FIELDS[kind]:
        data[field] = str(form.get(field, "")).strip()
    shown = {f: data[f] for f, _, secret in CRM_FIELDS[kind] if not secret} | {"name": name}
    try:
        parsed = _CREATE.validate_python(data)
        outbound = OutboundPolicy.parse(at.page.settings.outbound_allow)
        await crm_service.create_connector(at.db, at.site, parsed, now=at.now, outbound=outbound)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            where = str(error["loc"][-1]) if error["loc"] else "kind"
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] in ("missing", "too_short", "string_too_short"):
                message = "this field is required"
            errors.setdefault(where, message)
        return await _page(at, crm_errors=errors, crm_kind=kind, crm_values=shown, status=422)
    except InvalidField as exc:
        message = exc.detail.split(": ", 1)[-1]
        return await _page(
            at, crm_errors={exc.field: message}, crm_kind=kind, crm_values=shown, status=422
        )
    return await _page(at)


@router.post("/{connector_id}/test", dependencies=[CsrfChecked])
async def crm_test(at: OnSite, connector_id: uuid.UUID) -> Response:
    require_admin(at.account)
    connector = await crm_service.get_connector(
        at.db, site_id=at.site.id, connector_id=connector_id
    )
    outbound = OutboundPolicy.parse(at.page.settings.outbound_allow)
    result = await connection_check.check(connector, outbound=outbound, now=at.now)
    return await _page(
        at, tested={"connector_id": connector.id, "ok": result.ok, "line": result.line}
    )
