"""Alerts from the dashboard: add an e-mail or Telegram rule, send it a test message, retire
it, and retry what it could not deliver. Shown on the Integrations page."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.dashboard import inventory
from app.dashboard.csrf import CsrfChecked
from app.dashboard.service import require_admin
from app.dashboard.setup_crm import CRM_FIELDS
from app.dashboard.web import HtmlRoute, OnSite, SitePage, redirect
from app.exceptions import InvalidField
from app.kit.outbound import OutboundPolicy, outbound_client
from app.mail import mail_configured, send_mail
from crm_push import alerts, deliveries
from crm_push.alerts_schemas import NotificationCreate
from crm_push.worker import real_sleep_until

router = APIRouter(
    prefix="/sites/{site_id}/notifications", route_class=HtmlRoute, include_in_schema=False
)


async def _page(
    at: SitePage,
    *,
    alert_errors: dict[str, str] | None = None,
    alert_values: dict[str, Any] | None = None,
    tested: dict[str, Any] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    settings = at.page.settings
    view = await inventory.integrations(at.db, site=at.site, public_url=settings.public_url)
    response = at.render(
        "integrations.html",
        nav="integrations",
        view=view,
        notice=notice,
        created=None,
        crm_fields=CRM_FIELDS,
        crm_errors={},
        crm_kind="",
        crm_values={},
        alert_errors=alert_errors or {},
        alert_values=alert_values or {},
        alert_tested=tested,
        alert_mail_on=mail_configured(settings),
    )
    response.status_code = status
    return response


@router.post("", dependencies=[CsrfChecked])
async def create_rule(request: Request, at: OnSite) -> Response:
    """An e-mail or Telegram rule, checked whole before anything is stored."""
    require_admin(at.account)
    form = await request.form()
    channel = str(form.get("channel", ""))
    events = [str(e) for e in form.getlist("events")]
    data: dict[str, Any] = {"channel": channel, "events": events}
    if name := str(form.get("name", "")).strip():
        data["name"] = name
    fields = ("to",) if channel == "email" else ("chat_id", "bot_token")
    for field in fields:
        if value := str(form.get(field, "")).strip():
            data[field] = value
    # What the form shows again after an error: never the token.
    shown = {k: v for k, v in data.items() if k != "bot_token"}
    settings = at.page.settings
    try:
        parsed = NotificationCreate.model_validate(data)
        await alerts.create_rule(
            at.db,
            at.site,
            parsed,
            now=at.now,
            outbound=OutboundPolicy.parse(settings.outbound_allow),
            mail_on=mail_configured(settings),
        )
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            where = str(error["loc"][0]) if error["loc"] else "channel"
            message = str(error["msg"]).removeprefix("Value error, ")
            if where == "events":
                message = "choose at least one thing to be told about"
            elif where == "channel":
                message = "choose e-mail or Telegram"
            errors.setdefault(where, message)
        return await _page(at, alert_errors=errors, alert_values=shown, status=422)
    except InvalidField as exc:
        message = exc.detail.split(": ", 1)[-1]
        return await _page(at, alert_errors={exc.field: message}, alert_values=shown, status=422)
    return redirect(f"{at.base}/integrations?notice=alert_added")


@router.post("/{rule_id}/retire", dependencies=[CsrfChecked])
async def retire_rule(at: OnSite, rule_id: uuid.UUID) -> Response:
    require_admin(at.account)
    await alerts.retire_rule(at.db, site_id=at.site.id, rule_id=rule_id, now=at.now)
    return redirect(f"{at.base}/integrations?notice=alert_removed")


@router.post("/{rule_id}/test", dependencies=[CsrfChecked])
async def test_rule(at: OnSite, rule_id: uuid.UUID) -> Response:
    """A test message through the rule's channel now; its answer is shown beside the rule."""
    require_admin(at.account)
    rule = await alerts.get_rule(at.db, site_id=at.site.id, rule_id=rule_id)
    settings = at.page.settings
    now = at.now
    async with outbound_client(OutboundPolicy.parse(settings.outbound_allow)) as http:
        result = await alerts.send_test(
            rule,
            at.site,
            http=http,
            mailer=partial(send_mail, settings) if mail_configured(settings) else None,
            public_url=settings.public_url,
            clock=lambda: now,
            sleep_until=real_sleep_until(lambda: now),
        )
    return await _page(at, tested={"rule_id": rule.id, "ok": result.ok, "line": result.detail})


@router.post("/{rule_id}/deliveries/{delivery_id}/retry", dependencies=[CsrfChecked])
async def retry_delivery(
    at: OnSite,
    rule_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> Response:
    require_admin(at.account)
    rule = await alerts.get_rule(at.db, site_id=at.site.id, rule_id=rule_id)
    await deliveries.retry(at.db, connector=rule, delivery_id=delivery_id, now=at.now)
    return redirect(f"{at.base}/integrations?notice=retried")
