"""Sites set up from the browser: create, edit, retire, the snippet to paste and whether it is
seen. Every write goes through app.sites (and app.numbers on retire), as the admin API's do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.dashboard.csrf import CsrfChecked
from app.dashboard.form_errors import field_message
from app.dashboard.service import require_admin
from app.dashboard.web import HtmlRoute, OnSite, SignedIn, redirect
from app.i18n import N_, gettext
from app.models import Site, TrackingSession
from app.sites import service as sites_service
from app.sites.schemas import SiteCreate, SiteUpdate
from app.tracking import refusals

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)

Text = Annotated[str, Form(max_length=4000)]
FIELDS = ("name", "domains", "country", "timezone", "currency", "retention_months")
NOTICES = {
    "created": N_("The site is created: paste the snippet below into its pages."),
    "saved": N_("The site is saved."),
    "forms": N_("Form settings are saved."),
    "retention": N_("Retention is saved: older data is being deleted in the background."),
}
# What the retention menu offers; a value set through the API shows beside them.
RETENTION_CHOICES = (0, 3, 6, 12, 24, 36, 60)
# Enough recent visits to tell "seen here" from "seen on a domain not listed".
RECENT_VISITS = 200


def _domains(raw: str) -> list[str]:
    """One domain per line or comma-separated, as people paste them."""
    return [part.strip() for part in raw.replace(",", "\n").splitlines() if part.strip()]


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic's errors as one plain sentence per form field."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        where = str(error["loc"][0]) if error["loc"] else "name"
        message = field_message(error)
        errors.setdefault(where if where in FIELDS else "name", message)
    return errors


@dataclass(frozen=True, slots=True)
class SnippetStatus:
    """What the latest visits say about the snippet: seen where it belongs, or what is wrong."""

    seen_host: str | None
    seen_at: datetime | None
    foreign_host: str | None
    # The latest snippet request refused for its page's origin (no visit was stored for it).
    refused_host: str | None = None
    refused_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.seen_at is not None


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().removeprefix("www.")


def _listed(host: str, domains: list[str]) -> bool:
    return any(host == d.removeprefix("www.") or host.endswith("." + d) for d in domains)


async def snippet_status(db: AsyncSession, site: Site) -> SnippetStatus:
    """Read model: the hosts of the site's latest visits (their landing URLs), and the latest
    request refused for a host that is still not one of the site's domains."""
    refused = next(
        (
            r
            for r in await refusals.recent(db, site_id=site.id)
            if not _listed(r.host, site.domains)
        ),
        None,
    )
    refused_host = refused.host if refused else None
    refused_at = refused.received_at if refused else None
    rows = await db.execute(
        select(TrackingSession.landing_url, TrackingSession.started_at)
        .where(TrackingSession.site_id == site.id)
        .order_by(TrackingSession.started_at.desc())
        .limit(RECENT_VISITS)
    )
    foreign: str | None = None
    for landing_url, started_at in rows:
        host = _host(landing_url)
        if _listed(host, site.domains):
            return SnippetStatus(host, started_at, None, refused_host, refused_at)
        foreign = foreign or host or None
    return SnippetStatus(None, None, foreign, refused_host, refused_at)


_FIELDS = ("name", "domains", "country", "timezone", "currency")


def _form_values(site: Site | None) -> dict[str, str]:
    if site is None:
        return {"name": "", "domains": "", "country": "", "timezone": "UTC", "currency": ""}
    return {
        "name": site.name,
        "domains": "\n".join(site.domains),
        "country": site.country,
        "timezone": site.timezone,
        "currency": site.currency,
    }


def _typed(values: dict[str, str]) -> dict[str, object]:
    """The form's text as the site schemas take it; an empty currency means the country's own."""
    return {
        "name": values["name"].strip(),
        "domains": _domains(values["domains"]),
        "country": values["country"].strip(),
        "timezone": values["timezone"].strip() or "UTC",
        "currency": values["currency"].strip() or None,
    }


@router.get("/sites/new")
async def new_site(page: SignedIn) -> Response:
    require_admin(page.account)
    return page.render("site_new.html", values=_form_values(None), errors={})


@router.post("/sites/new", dependencies=[CsrfChecked])
async def create_site(
    page: SignedIn,
    name: Text = "",
    domains: Text = "",
    country: Text = "",
    timezone: Text = "",
    currency: Text = "",
) -> Response:
    require_admin(page.account)
    values = dict(zip(_FIELDS, (name, domains, country, timezone, currency), strict=True))
    try:
        data = SiteCreate.model_validate(_typed(values))
    except ValidationError as exc:
        response = page.render("site_new.html", values=values, errors=field_errors(exc))
        response.status_code = 422
        return response
    site = await sites_service.create_site(page.db, data, now=page.now)
    return redirect(f"/sites/{site.id}/site?notice=created")


async def _site_page(
    at: OnSite,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    settings = at.page.settings
    response = at.render(
        "site_settings.html",
        nav="site",
        snippet=sites_service.snippet_html(at.site, public_url=settings.public_url),
        status=await snippet_status(at.db, at.site),
        values=values or _form_values(at.site),
        errors=errors or {},
        notice=gettext(NOTICES[notice]) if notice in NOTICES else None,
        retention_choices=sorted({*RETENTION_CHOICES, at.site.retention_months}),
    )
    response.status_code = status
    return response


@router.get("/sites/{site_id}/site")
async def site_settings(at: OnSite, notice: str = "") -> Response:
    return await _site_page(at, notice=notice)


@router.post("/sites/{site_id}/site", dependencies=[CsrfChecked])
async def edit_site(
    at: OnSite,
    name: Text = "",
    domains: Text = "",
    country: Text = "",
    timezone: Text = "",
    currency: Text = "",
) -> Response:
    require_admin(at.account)
    values = dict(zip(_FIELDS, (name, domains, country, timezone, currency), strict=True))
    try:
        data = SiteUpdate.model_validate(_typed(values))
    except ValidationError as exc:
        return await _site_page(at, values=values, errors=field_errors(exc), status=422)
    await sites_service.update_site(at.db, at.site.id, data)
    return redirect(f"/sites/{at.site.id}/site?notice=saved")


@router.post("/sites/{site_id}/forms", dependencies=[CsrfChecked])
async def edit_forms(
    at: OnSite, forms_enabled: Text = "", forms_consent_required: Text = ""
) -> Response:
    """Forms as leads: whether the snippet sends the site's forms, and only with consent."""
    require_admin(at.account)
    data = SiteUpdate(
        forms_enabled=forms_enabled == "on",
        forms_consent_required=forms_consent_required == "on",
    )
    await sites_service.update_site(at.db, at.site.id, data)
    return redirect(f"/sites/{at.site.id}/site?notice=forms")


@router.post("/sites/{site_id}/retention", dependencies=[CsrfChecked])
async def edit_retention(at: OnSite, retention_months: Text = "") -> Response:
    """How many months of visits, calls and form leads the site keeps (0: for ever)."""
    require_admin(at.account)
    try:
        data = SiteUpdate.model_validate({"retention_months": retention_months.strip() or "0"})
    except ValidationError as exc:
        return await _site_page(at, errors=field_errors(exc), status=422)
    await sites_service.update_site(at.db, at.site.id, data)
    return redirect(f"/sites/{at.site.id}/site?notice=retention")


@router.post("/sites/{site_id}/retire", dependencies=[CsrfChecked])
async def retire_site(at: OnSite) -> Response:
    """As the admin API's DELETE: the site stops tracking and its numbers are freed."""
    require_admin(at.account)
    await sites_service.retire_site(at.db, at.site.id, now=at.now)
    return redirect("/")
