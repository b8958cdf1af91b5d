"""/demo: a shop page with the snippet, links that arrive from different sources, a test call
sent as a signed PBX webhook, and a CRM inbox that receives the lead through a webhook.

Public pages, like the shop they stand for; they exist only where `callsource demo` created
the demo site (404 everywhere else).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from app.dashboard.csrf import CsrfChecked
from app.dashboard.web import HtmlRoute, optional_account, redirect, render
from app.demo import service as demo
from app.demo.seed import DEMO_INBOX_PATH
from app.deps import DbSession, Now
from app.i18n import N_, gettext
from app.kit.phones import to_e164
from app.sites.service import snippet_html
from app.state import app_state
from app.tracking.bots import is_bot
from crm_push import deals as deals_service
from crm_push.schemas import DealIn

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
# The inbox's receiving end answers a machine: JSON errors, no cookie, no CSRF (it is signed).
hooks = APIRouter(include_in_schema=False)

# What the "arrive from a search engine" links pretend the visitor clicked on.
REFERRERS = {
    "google": "https://www.google.com/search?q=corner+sofa+moscow",
    "yandex": "https://yandex.ru/search/?text=%D0%B4%D0%B8%D0%B2%D0%B0%D0%BD",
    "vk": "https://vk.com/demo_sofas",
}
LINKS = [
    (
        N_("Yandex Direct ad"),
        "/demo/?utm_source=yandex&utm_medium=cpc&utm_campaign=sofas&utm_term=corner+sofa&yclid=7301",
    ),
    (N_("Google Ads ad"), "/demo/?gclid=demo-gclid-4815&utm_campaign=brand"),
    (N_("Google search result"), "/demo/from/google"),
    (N_("Yandex search result"), "/demo/from/yandex"),
    (N_("VK post"), "/demo/from/vk"),
    (
        N_("E-mail newsletter"),
        "/demo/?utm_source=newsletter&utm_medium=email&utm_campaign=november",
    ),
    (N_("Typed the address"), "/demo/"),
]


def _csp(public_url: str) -> str:
    # The snippet may come from CALLSOURCE_PUBLIC_URL rather than the page's own origin.
    api = "{0.scheme}://{0.netloc}".format(urlsplit(public_url))
    return (
        f"default-src 'self'; script-src 'self' {api}; connect-src 'self' {api}; "
        "img-src 'self' data:; style-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


@router.get("/demo/")
@router.get("/demo")
async def landing(request: Request, db: DbSession) -> Response:
    site = await demo.demo_site(db)
    public_url = app_state(request).settings.public_url
    account = await optional_account(request, db)
    response = render(
        request,
        "demo/landing.html",
        {
            "site": site,
            "snippet": snippet_html(site, public_url=public_url),
            "tracker_src": f"{public_url}/t/tracker.js",
            "links": LINKS,
            "caller": demo.random_caller(),
            "signed_in": account is not None,
            # The tracker answers crawlers (headless browsers too) without a tracking number:
            # the page says so at once rather than wait for one (demo.js, if the snippet says so).
            "crawler": is_bot(request.headers.get("user-agent")),
        },
    )
    response.headers["Content-Security-Policy"] = _csp(public_url)
    # The shop page is what a visitor sees: let search-engine-like links keep their referrer.
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    return response


@router.get("/demo/from/{where}")
async def arrive_from(where: str, db: DbSession) -> Response:
    """Arrive as if from a search engine or a social network.

    A page cannot make the browser send another site's referrer, so the landing page's own
    script (static/demo.js) plays it back: it sets document.referrer from the fragment before
    the snippet reads it. Utm-tagged links need no such help.
    """
    await demo.demo_site(db)
    referrer = REFERRERS.get(where)
    if referrer is None:
        raise demo.NoDemo(f"no simulated referrer {where!r}")
    return redirect("/demo/#cs-demo-referrer=" + quote(referrer, safe=""))


@router.post("/demo/call", dependencies=[CsrfChecked])
async def test_call(
    request: Request,
    now: Now,
    called: Annotated[str, Form(max_length=40)],
    caller: Annotated[str, Form(max_length=40)],
) -> Response:
    # No request-wide transaction: the webhook writes in its own while we wait for it.
    sessionmaker = app_state(request).sessionmaker
    async with sessionmaker() as db:
        site = await demo.demo_site(db)
        integration = await demo.demo_pbx(db, site)
    called_e164 = to_e164(called, site.country, field="called")
    caller_e164 = to_e164(caller, site.country, field="caller")
    call_id = await demo.place_test_call(
        request.app, integration=integration, caller=caller_e164, called=called_e164, now=now
    )
    async with sessionmaker() as db:
        call = await demo.find_call(db, site=site, provider_call_id=call_id)
        account = await optional_account(request, db)
    return render(
        request,
        "demo/called.html",
        {"site": site, "call": call, "signed_in": account is not None},
    )


@router.get("/demo/crm-inbox")
async def crm_inbox(request: Request, db: DbSession, notice: str = "") -> Response:
    site = await demo.demo_site(db)
    connectors = await demo.demo_connectors(db, site)
    account = await optional_account(request, db)
    return render(
        request,
        "demo/inbox.html",
        {
            "site": site,
            "signed_in": account is not None,
            "leads": list(demo.inbox(request.app).leads),
            "connected": bool(connectors),
            "notice": gettext("The deal is recorded: see revenue and ROMI in the dashboard.")
            if notice == "deal"
            else None,
        },
    )


@router.post("/demo/crm-inbox/deal", dependencies=[CsrfChecked])
async def win_deal(
    db: DbSession,
    now: Now,
    call_id: Annotated[uuid.UUID, Form()],
    revenue: Annotated[Decimal, Form(ge=0, le=10**9, decimal_places=2)],
) -> Response:
    """What the CRM does when the lead becomes a sale: it reports the deal back."""
    site = await demo.demo_site(db)
    data = DealIn(
        call_id=call_id,
        external_id=f"demo-deal-{call_id.hex[:12]}",
        status="won",
        revenue=revenue,
        currency="RUB",
    )
    await deals_service.record_deal(db, site=site, data=data, now=now)
    return redirect("/demo/crm-inbox?notice=deal")


@hooks.post(DEMO_INBOX_PATH)
async def receive_lead(request: Request, db: DbSession, now: Now) -> JSONResponse:
    """The demo CRM's webhook endpoint: checks the signature, keeps the lead, answers 200."""
    site = await demo.demo_site(db)
    connectors = await demo.demo_connectors(db, site)
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    msg_id = demo.verify(
        [str(c.credentials["secret"]) for c in connectors], headers, body[:1_000_000], now=now
    )
    fresh = demo.inbox(request.app).add(demo.lead_of(msg_id, body, now=now))
    return JSONResponse({"received": True, "repeat": not fresh})
