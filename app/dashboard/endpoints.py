"""The dashboard's pages of one site: overview, sources, calls, numbers, integrations.

Handlers parse the request, call services and render; `install` wires the whole dashboard
(these pages, accounts, ad costs, static files) into the app.
"""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Form, Query
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from app.dashboard import (
    account_endpoints,
    analytics,
    call_endpoints,
    costs_endpoints,
    inventory,
    links_endpoints,
    setup_ad_accounts,
    setup_alerts,
    setup_crm,
    setup_destinations,
    setup_pbx,
    users_endpoints,
)
from app.dashboard.analytics import GROUP_NAMES, MODEL_NAMES
from app.dashboard.csrf import CsrfChecked
from app.dashboard.onboarding import checklist
from app.dashboard.service import require_admin
from app.dashboard.setup_numbers import router as setup_numbers_router
from app.dashboard.setup_sites import router as setup_sites_router
from app.dashboard.setup_static_numbers import router as setup_static_numbers_router
from app.dashboard.templating import STATIC, STATIC_PREFIX
from app.dashboard.web import HtmlRoute, OnSite, redirect, safe_next
from app.deps import Store
from app.exceptions import InvalidField
from app.exports import service as exports_service
from app.exports.endpoints import csv_response
from app.i18n import N_, gettext
from app.kit.outbound import OutboundPolicy
from app.mail import mail_configured
from app.reports.attribution_models import GroupBy, Model
from app.reports.params import CallFilterParams, From, To
from crm_push import deliveries as deliveries_service
from crm_push import service as crm_service
from crm_push.schemas import WebhookCreate, WebhookEvent
from pbx_webhooks import service as pbx_service
from pbx_webhooks.schemas import GenericCreate

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
pages = APIRouter(prefix="/sites/{site_id}", route_class=HtmlRoute, include_in_schema=False)

ModelParam = Annotated[Model, Query()]
NOTICES = {
    "retried": N_("The delivery is queued again: the worker sends it within a minute."),
    "alert_added": N_("The alert is on: the next call it is for is announced."),
    "alert_removed": N_("The alert is off: nothing more is sent through it."),
}


@pages.get("/overview")
async def overview(
    at: OnSite, since: From = None, until: To = None, model: ModelParam = Model.LAST_NON_DIRECT
) -> Response:
    period = analytics.period_of(at.site, since, until, now=at.now)
    data = await analytics.overview(at.db, site=at.site, period=period, model=model)
    return at.render(
        "overview.html",
        nav="overview",
        period=period,
        model=model,
        models=MODEL_NAMES,
        data=data,
        checklist=await checklist(at.db, at.site),
    )


@pages.get("/sources")
async def sources(
    at: OnSite,
    since: From = None,
    until: To = None,
    model: ModelParam = Model.LAST_NON_DIRECT,
    group_by: Annotated[GroupBy, Query()] = GroupBy.SOURCE,
) -> Response:
    period = analytics.period_of(at.site, since, until, now=at.now)
    report = await analytics.sources(
        at.db, site=at.site, period=period, group_by=group_by, model=model
    )
    return at.render(
        "sources.html",
        nav="sources",
        period=period,
        model=model,
        models=MODEL_NAMES,
        group_by=group_by,
        groups=GROUP_NAMES,
        report=report,
    )


@pages.get("/calls")
async def calls(
    at: OnSite,
    filters: CallFilterParams,
    since: From = None,
    until: To = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    period = analytics.period_of(at.site, since, until, now=at.now)
    found = await analytics.call_list(
        at.db, site=at.site, period=period, filters=filters, page=page
    )
    query = [
        ("from", period.first_day.isoformat()),
        ("to", period.last_day.isoformat()),
        *filters.params(),
    ]
    return at.render(
        "calls.html",
        nav="calls",
        period=period,
        filters=filters,
        found=found,
        query=urlencode(query),
    )


@pages.get("/calls.csv")
async def calls_csv(
    at: OnSite, filters: CallFilterParams, since: From = None, until: To = None
) -> Response:
    """The call list's CSV, as the API's calls export, with the page's filters."""
    period = analytics.period_of(at.site, since, until, now=at.now).period
    content = await exports_service.calls_csv(
        at.db, site=at.site, since=period.since, until=period.until, filters=filters
    )
    return csv_response(content, name="calls", period=period)


@pages.get("/sources.csv")
async def sources_csv(
    at: OnSite,
    since: From = None,
    until: To = None,
    model: ModelParam = Model.LAST_NON_DIRECT,
    group_by: Annotated[GroupBy, Query()] = GroupBy.SOURCE,
) -> Response:
    """The sources table as the page shows it, as the API's sources export."""
    period = analytics.period_of(at.site, since, until, now=at.now).period
    content = await exports_service.sources_csv(
        at.db, site=at.site, since=period.since, until=period.until, group_by=group_by, model=model
    )
    return csv_response(content, name="sources", period=period)


@pages.post("/crm/{connector_id}/deliveries/{delivery_id}/retry", dependencies=[CsrfChecked])
async def retry_delivery(
    at: OnSite,
    connector_id: uuid.UUID,
    delivery_id: uuid.UUID,
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    require_admin(at.account)
    connector = await crm_service.get_connector(
        at.db, site_id=at.site.id, connector_id=connector_id
    )
    await deliveries_service.retry(at.db, connector=connector, delivery_id=delivery_id, now=at.now)
    target = safe_next(next, f"{at.base}/integrations")
    return redirect(target + ("&" if "?" in target else "?") + "notice=retried")


@pages.get("/numbers")
async def numbers(at: OnSite, store: Store, since: From = None, until: To = None) -> Response:
    period = analytics.period_of(at.site, since, until, now=at.now)
    view = await inventory.numbers(
        at.db, store, site=at.site, now=at.now, since=period.period.since
    )
    return at.render("numbers.html", nav="numbers", period=period, view=view)


@pages.get("/numbers/offline/print")
async def print_offline_numbers(at: OnSite) -> Response:
    numbers = await inventory.offline_numbers(at.db, site=at.site)
    return at.render("print_offline.html", numbers=numbers)


@pages.get("/integrations")
async def integrations(at: OnSite, notice: str = "") -> Response:
    return await _integrations(at, notice=gettext(NOTICES[notice]) if notice in NOTICES else None)


async def _integrations(
    at: OnSite, *, notice: str | None = None, created: dict[str, str] | None = None
) -> Response:
    public_url = at.page.settings.public_url
    view = await inventory.integrations(at.db, site=at.site, public_url=public_url)
    response = at.render(
        "integrations.html",
        nav="integrations",
        view=view,
        notice=notice,
        created=created,
        crm_fields=setup_crm.CRM_FIELDS,
        crm_errors={},
        crm_kind="",
        crm_values={},
        alert_mail_on=mail_configured(at.page.settings),
    )
    return response


@pages.post("/integrations/pbx", dependencies=[CsrfChecked])
async def create_pbx(at: OnSite, name: Annotated[str, Form(max_length=200)] = "") -> Response:
    require_admin(at.account)
    integration = await pbx_service.create_integration(
        at.db, at.site, GenericCreate(provider="generic", name=name or None), now=at.now
    )
    url = pbx_service.webhook_url(integration, public_url=at.page.settings.public_url)
    # The secret is shown in this answer only; it is never rendered again.
    created = {
        "what": gettext("PBX webhook"),
        "url": url,
        "secret": integration.credentials["secret"],
    }
    return await _integrations(at, created=created)


@pages.post("/integrations/crm", dependencies=[CsrfChecked])
async def create_crm_webhook(
    at: OnSite,
    url: Annotated[str, Form(max_length=1000)],
    name: Annotated[str, Form(max_length=200)] = "",
    forms: Annotated[str, Form(max_length=10)] = "",
    updates: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    require_admin(at.account)
    # Form leads and tag/status changes go to a webhook only when asked: its receiver may
    # know call messages only.
    events: list[WebhookEvent] = ["call.attributed"]
    if forms == "on":
        events.append("form")
    if updates == "on":
        events.append("call.updated")
    try:
        data = WebhookCreate(kind="webhook", url=url, name=name or None, events=events)
    except ValidationError as exc:
        raise InvalidField(
            "url", str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        ) from exc
    outbound = OutboundPolicy.parse(at.page.settings.outbound_allow)
    connector = await crm_service.create_connector(
        at.db, at.site, data, now=at.now, outbound=outbound
    )
    created = {
        "what": gettext("CRM webhook"),
        "url": url,
        "secret": connector.credentials["secret"],
    }
    return await _integrations(at, created=created)


router.include_router(account_endpoints.router)
router.include_router(users_endpoints.router)
router.include_router(links_endpoints.router)
router.include_router(pages)
router.include_router(call_endpoints.router)
router.include_router(costs_endpoints.router)
router.include_router(setup_pbx.router)
router.include_router(setup_crm.router)
router.include_router(setup_destinations.router)
router.include_router(setup_ad_accounts.router)
router.include_router(setup_alerts.router)
router.include_router(setup_sites_router)
router.include_router(setup_numbers_router)
router.include_router(setup_static_numbers_router)


def install(app: FastAPI) -> None:
    """The dashboard's routes and its static files (CSS, and the demo's script it serves)."""
    app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC), name="dashboard-static")
