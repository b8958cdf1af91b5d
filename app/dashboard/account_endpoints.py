"""Sign-in, the first admin (/setup), sign-out and the account's own password (the accounts of
others are users_endpoints.py; invite and reset links links_endpoints.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from app.dashboard import service, web
from app.dashboard.csrf import CsrfChecked
from app.dashboard.service import Account
from app.dashboard.web import HtmlRoute, SignedIn, optional_account, redirect, render, safe_next
from app.deps import DbSession, Limiter, Now
from app.exceptions import AppError, InvalidField, TooManyRequests
from app.i18n import LANGUAGES, N_, gettext
from app.mail import mail_configured
from app.ratelimit import Limit
from app.state import app_state
from app.tracking.http import client_address

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)

# Per client address: enough for people who mistype, useless for guessing (argon2 also makes
# each guess cost ~50 ms of our CPU, which this keeps bounded).
SIGN_IN_LIMIT = Limit("dashboard-sign-in", requests=10, window_s=300)
Text = Annotated[str, Form(max_length=1024)]
NOTICES = {
    "password-changed": N_("Your password is changed; other sessions of yours have ended."),
    "password-chosen": N_("Your password is saved and you are signed in."),
    "language-saved": N_("The dashboard speaks your language now."),
}
# A year: the choice of a browser that is not signed in.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600


def _notice(key: str) -> str | None:
    return gettext(NOTICES[key]) if key in NOTICES else None


async def _limit(request: Request, now: Now, limiter: Limiter) -> None:
    retry_after = await limiter.hit(SIGN_IN_LIMIT, client_address(request), now=now)
    if retry_after is not None:
        raise TooManyRequests(
            gettext("too many sign-in attempts: try again in %(seconds)s s", seconds=retry_after),
            retry_after_s=retry_after,
        )


SignInLimited = Depends(_limit)


def _mail_on(request: Request) -> bool:
    return mail_configured(app_state(request).settings)


MaybeAccount = Annotated[Account | None, Depends(optional_account)]


@router.get("/setup")
async def setup_form(request: Request, db: DbSession) -> Response:
    if not await service.setup_needed(db):
        return redirect("/login")
    return render(request, "setup.html", {"error": None, "email": ""})


@router.post("/setup", dependencies=[CsrfChecked, SignInLimited])
async def setup(
    request: Request,
    db: DbSession,
    now: Now,
    admin_token: Text,
    email: Text,
    password: Text,
    password_again: Text,
) -> Response:
    try:
        if password != password_again:
            raise InvalidField("password_again", gettext("the two passwords differ"))
        user = await service.create_first_admin(
            db,
            presented_token=admin_token,
            admin_token=app_state(request).admin_token,
            email=email,
            password=password,
            now=now,
        )
    except service.SetupClosed:
        return redirect("/login")
    except AppError as exc:
        context = {"error": exc.detail, "email": email}
        return render(request, "setup.html", context, status_code=exc.status_code)
    web.sign_in(request, user)
    return redirect("/")


@router.get("/login")
async def login_form(request: Request, db: DbSession, account: MaybeAccount) -> Response:
    target = safe_next(request.query_params.get("next"))
    if account is not None:
        return redirect(target)
    if await service.setup_needed(db):
        return redirect("/setup")
    context = {"error": None, "email": "", "next": target, "mail_on": _mail_on(request)}
    return render(request, "login.html", context)


@router.post("/login", dependencies=[CsrfChecked, SignInLimited])
async def login(
    request: Request,
    db: DbSession,
    now: Now,
    email: Text,
    password: Text,
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    user = await service.authenticate(db, email=email, password=password, now=now)
    if user is None:
        context = {
            "error": gettext("Wrong e-mail or password."),
            "email": email,
            "next": safe_next(next),
            "mail_on": _mail_on(request),
        }
        return render(request, "login.html", context, status_code=401)
    web.sign_in(request, user)
    return redirect(safe_next(next))


@router.post("/logout", dependencies=[CsrfChecked])
async def logout(request: Request, db: DbSession, account: MaybeAccount) -> Response:
    if account is not None:
        # Ends the account's sessions on the server: a copy of this cookie opens nothing now.
        await service.end_sessions(db, account.user)
    web.sign_out(request)
    return redirect("/login")


@router.get("/")
async def home(page: SignedIn) -> Response:
    if page.sites:
        return redirect(f"/sites/{page.sites[0].id}/overview")
    return page.render("no_sites.html", public_url=page.settings.public_url)


# --- the account's own password ------------------------------------------------------------


@router.get("/account")
async def account_page(page: SignedIn, notice: str = "") -> Response:
    return page.render("account.html", error=None, notice=_notice(notice))


@router.post("/account/password", dependencies=[CsrfChecked])
async def change_password(
    page: SignedIn, current_password: Text, new_password: Text, new_password_again: Text
) -> Response:
    try:
        if new_password != new_password_again:
            raise InvalidField("new_password_again", gettext("the two passwords differ"))
        await service.change_password(
            page.db, user=page.account.user, current=current_password, new=new_password
        )
    except AppError as exc:
        response = page.render("account.html", error=exc.detail, notice=None)
        response.status_code = exc.status_code
        return response
    # The old session's fingerprint no longer matches: sign this one in again with the new.
    web.sign_in(page.request, page.account.user)
    return redirect("/account?notice=password-changed")


# --- the language ---------------------------------------------------------------------------


@router.post("/language", dependencies=[CsrfChecked])
async def choose_language(
    request: Request,
    db: DbSession,
    account: MaybeAccount,
    language: Annotated[str, Form(max_length=8)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """The header's switcher and the Account page's selector. Empty: the browser's language.
    A signed-in user's choice is kept on the account (it follows them to other browsers)."""
    if language and language not in LANGUAGES:
        raise InvalidField("language", gettext("choose one of: %(all)s", all=", ".join(LANGUAGES)))
    if account is not None:
        await service.set_language(db, account.user, language or None)
    target = safe_next(next)
    if account is not None and target == "/account":
        target = "/account?notice=language-saved"
    response = redirect(target)
    if language:
        response.set_cookie(
            web.LANGUAGE_COOKIE, language, max_age=LANGUAGE_COOKIE_AGE, path="/", samesite="lax"
        )
    else:
        response.delete_cookie(web.LANGUAGE_COOKIE, path="/")
    return response
