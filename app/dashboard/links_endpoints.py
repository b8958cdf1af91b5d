"""Opening a one-time link (/invite/{token}, /reset/{token}): the invitee or the person who
forgot a password chooses one and is signed in. And "forgot your password?" on the sign-in page,
which e-mails a reset link when e-mail is configured, answering the same whether the e-mail
has an account or not."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Path, Request
from fastapi.responses import Response

from app.config import Settings
from app.dashboard import links, web
from app.dashboard.account_endpoints import SignInLimited
from app.dashboard.csrf import CsrfChecked
from app.dashboard.links import Purpose
from app.dashboard.web import HtmlRoute, redirect, render
from app.deps import AppSettings, DbSession, Now
from app.exceptions import InvalidField
from app.i18n import gettext
from app.mail import Mail, MailFailed, mail_configured, send_mail

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
log = logging.getLogger(__name__)

Text = Annotated[str, Form(max_length=1024)]
# Ours are 43 characters (32 random bytes); anything far longer is not a link of ours.
Token = Annotated[str, Path(max_length=100)]


def _form(
    request: Request,
    *,
    purpose: Purpose,
    token: str,
    email: str,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {"purpose": purpose.value, "token": token, "email": email, "errors": errors or {}}
    return render(request, "choose_password.html", context, status_code=status_code)


async def _show(
    request: Request, db: DbSession, now: Now, purpose: Purpose, token: str
) -> Response:
    user = await links.check(db, purpose=purpose, token=token, now=now)
    return _form(request, purpose=purpose, token=token, email=user.email)


async def _choose(
    request: Request,
    db: DbSession,
    now: Now,
    purpose: Purpose,
    token: str,
    password: str,
    password_again: str,
) -> Response:
    user = await links.check(db, purpose=purpose, token=token, now=now)
    try:
        if password != password_again:
            raise InvalidField("password_again", gettext("the two passwords differ"))
        user = await links.redeem(db, purpose=purpose, token=token, password=password, now=now)
    except InvalidField as exc:
        errors = {exc.field: exc.detail.removeprefix(f"{exc.field}: ")}
        return _form(
            request,
            purpose=purpose,
            token=token,
            email=user.email,
            errors=errors,
            status_code=exc.status_code,
        )
    web.sign_in(request, user)
    return redirect("/")


@router.get("/invite/{token}")
async def invite_form(request: Request, db: DbSession, now: Now, token: Token) -> Response:
    return await _show(request, db, now, Purpose.INVITE, token)


@router.post("/invite/{token}", dependencies=[CsrfChecked, SignInLimited])
async def accept_invite(
    request: Request, db: DbSession, now: Now, token: Token, password: Text, password_again: Text
) -> Response:
    return await _choose(request, db, now, Purpose.INVITE, token, password, password_again)


@router.get("/reset/{token}")
async def reset_form(request: Request, db: DbSession, now: Now, token: Token) -> Response:
    return await _show(request, db, now, Purpose.RESET, token)


@router.post("/reset/{token}", dependencies=[CsrfChecked, SignInLimited])
async def reset(
    request: Request, db: DbSession, now: Now, token: Token, password: Text, password_again: Text
) -> Response:
    return await _choose(request, db, now, Purpose.RESET, token, password, password_again)


# --- forgot your password? -----------------------------------------------------------------


@router.get("/login/forgot")
async def forgot_form(request: Request, settings: AppSettings) -> Response:
    context = {"mail_on": mail_configured(settings), "sent": False, "email": ""}
    return render(request, "forgot.html", context)


async def _send_quietly(settings: Settings, mail: Mail) -> None:
    try:
        await send_mail(settings, mail)
    except MailFailed as exc:
        # The person asking cannot be told (that would say the account exists): the log can.
        log.warning("a password reset e-mail was not sent: %s", exc)


@router.post("/login/forgot", dependencies=[CsrfChecked, SignInLimited])
async def forgot(
    request: Request,
    db: DbSession,
    now: Now,
    settings: AppSettings,
    background: BackgroundTasks,
    email: Text,
) -> Response:
    on = mail_configured(settings)
    if on:
        link = await links.forgotten(db, email=email, now=now)
        if link is not None:
            # Sent after the answer (and the commit): the answer takes as long either way.
            background.add_task(_send_quietly, settings, link.mail(public_url=settings.public_url))
    return render(request, "forgot.html", {"mail_on": on, "sent": on, "email": email})
