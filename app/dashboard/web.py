"""HTML plumbing shared by every dashboard route: the session cookie, the signed-in account,
rendering, redirects, error pages and security headers.

Errors raised by services carry their status (app.exceptions); `HtmlRoute` renders them as a
page instead of the API's JSON, so the dashboard needs no handler of its own in app.main.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.dashboard import auth, service
from app.dashboard.auth import SessionCodec, SessionData
from app.dashboard.service import Account
from app.dashboard.templating import environment
from app.deps import DbSession, Now
from app.exceptions import AppError
from app.i18n import choose_language
from app.i18n.catalogs import current_language, set_language
from app.models import Site, User
from app.state import app_state

# script-src 'self' only: no inline script anywhere, so an injected one cannot run. Media from
# anywhere: a call's recording plays from where the PBX keeps it (media runs no script).
CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self' https: http:; "
    "style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


# What a signed-out browser chose in the language switcher (a signed-in user's choice is stored
# on the account instead).
LANGUAGE_COOKIE = "callsource_language"


def request_language(request: Request, user: User | None = None) -> str:
    return choose_language(
        user=user.language if user is not None else None,
        chosen=request.cookies.get(LANGUAGE_COOKIE),
        accept_language=request.headers.get("accept-language"),
        default=app_state(request).settings.language,
    )


class Redirect(Exception):
    """Leave the page for another one (sign-in, setup) from anywhere in a request."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


@lru_cache(maxsize=4)
def codec(admin_token: str) -> SessionCodec:
    return SessionCodec(admin_token)


def _codec(request: Request) -> SessionCodec:
    return codec(app_state(request).admin_token)


def load_session(request: Request) -> SessionData:
    """The visitor's session, from the cookie or new (then sent back with the response)."""
    found: SessionData | None = getattr(request.state, "dashboard_session", None)
    if found is not None:
        return found
    found = _codec(request).loads(request.cookies.get(auth.COOKIE_NAME))
    if found is None:
        found = SessionData.anonymous()
        request.state.dashboard_session_dirty = True
    request.state.dashboard_session = found
    return found


def store_session(request: Request, data: SessionData) -> None:
    request.state.dashboard_session = data
    request.state.dashboard_session_dirty = True


def _finish(request: Request, response: Response) -> Response:
    if getattr(request.state, "dashboard_session_dirty", False):
        settings = app_state(request).settings
        response.set_cookie(
            auth.COOKIE_NAME,
            _codec(request).dumps(request.state.dashboard_session),
            max_age=int(auth.SESSION_LIFETIME.total_seconds()),
            path="/",
            httponly=True,
            samesite="lax",
            secure=settings.public_url.startswith("https://"),
        )
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    # Pages hold data of a signed-in user: no shared cache may keep them.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    session = load_session(request)
    values: dict[str, Any] = {
        "request": request,
        "csrf_token": session.csrf,
        "path": request.url.path,
        "account": None,
        "sites": [],
        "site": None,
        "nav": "",
        "notice": None,
        "lang": current_language(),
    }
    values |= getattr(request.state, "dashboard_context", {})
    values |= context or {}
    html = environment().get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    # 303: after a POST the browser follows with a GET.
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path of this site: an open redirect would let a phishing link borrow our name."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


def error_page(request: Request, status_code: int, detail: str) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"status_code": status_code, "detail": detail},
        status_code=status_code,
    )


class HtmlRoute(APIRoute):
    """A route whose errors are pages, whose responses carry the session cookie when it
    changed, and the security headers of the dashboard."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def html_handler(request: Request) -> Response:
            # Until the account is known (optional_account refines it): the browser's choice.
            set_language(request_language(request))
            try:
                response = await handler(request)
            except Redirect as exc:
                response = redirect(exc.url)
            except AppError as exc:
                response = error_page(request, exc.status_code, exc.detail)
            except RequestValidationError as exc:
                response = error_page(request, 422, _validation_message(exc))
            return _finish(request, response)

        return html_handler


# --- the signed-in account -----------------------------------------------------------------


async def optional_account(request: Request, db: DbSession) -> Account | None:
    session = load_session(request)
    if session.user_id is None:
        return None
    found = await service.account(db, user_id=session.user_id)
    if found is None or session.auth != auth.fingerprint(
        found.user.password_hash, found.user.session_generation, _codec(request).key
    ):
        # Deleted, disabled, signed out or the password changed since: this session is over.
        store_session(request, SessionData.anonymous())
        return None
    set_language(request_language(request, found.user))
    return found


async def required_account(
    request: Request, db: DbSession, account: Annotated[Account | None, Depends(optional_account)]
) -> Account:
    if account is not None:
        return account
    if await service.setup_needed(db):
        raise Redirect("/setup")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise Redirect("/login?next=" + quote(target, safe=""))


def sign_in(request: Request, user: User) -> None:
    session = load_session(request)
    proof = auth.fingerprint(user.password_hash, user.session_generation, _codec(request).key)
    store_session(request, session.signed_in(user.id, proof))


def sign_out(request: Request) -> None:
    store_session(request, SessionData.anonymous())


@dataclass(slots=True)
class Page:
    """What every signed-in page has: the request, its database session, the account, now."""

    request: Request
    db: AsyncSession
    account: Account
    now: datetime
    sites: list[Site] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return app_state(self.request).settings

    def render(
        self, template: str, context: dict[str, Any] | None = None, **kw: Any
    ) -> HTMLResponse:
        return render(self.request, template, {**(context or {}), **kw})


async def page(
    request: Request,
    db: DbSession,
    now: Now,
    account: Annotated[Account, Depends(required_account)],
) -> Page:
    sites = await service.visible_sites(db, account)
    request.state.dashboard_context = {"account": account, "sites": sites, "site": None}
    return Page(request=request, db=db, account=account, now=now, sites=sites)


SignedIn = Annotated[Page, Depends(page)]


@dataclass(slots=True)
class SitePage:
    page: Page
    site: Site

    @property
    def db(self) -> AsyncSession:
        return self.page.db

    @property
    def now(self) -> datetime:
        return self.page.now

    @property
    def account(self) -> Account:
        return self.page.account

    @property
    def request(self) -> Request:
        return self.page.request

    @property
    def base(self) -> str:
        """The URL prefix of this site's pages."""
        return f"/sites/{self.site.id}"

    def render(
        self, template: str, context: dict[str, Any] | None = None, **kw: Any
    ) -> HTMLResponse:
        return self.page.render(template, context, **kw)


async def site_page(site_id: uuid.UUID, page: SignedIn) -> SitePage:
    site = await service.site_for(page.db, page.account, site_id)
    page.request.state.dashboard_context["site"] = site
    return SitePage(page=page, site=site)


OnSite = Annotated[SitePage, Depends(site_page)]
