"""The Users page (admins): invite an admin or a viewer by a one-time link, hand out a password
reset link, change an account's role and a viewer's sites, disable and enable accounts.

A link is shown on the page to copy and, when e-mail is configured, also sent to its owner.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from app.dashboard import links, service, web
from app.dashboard.csrf import CsrfChecked
from app.dashboard.service import Role
from app.dashboard.web import HtmlRoute, SignedIn, redirect
from app.exceptions import AppError, InvalidField
from app.i18n import N_, gettext
from app.mail import MailFailed, mail_configured, send_mail

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)

Text = Annotated[str, Form(max_length=1024)]
SiteIds = Annotated[list[uuid.UUID], Form()]
NOTICES = {
    "user-created": N_("The account is created: give its owner the e-mail and password."),
    "sites-saved": N_("The viewer's sites are saved."),
    "role-saved": N_("The role is changed."),
    "user-disabled": N_("The account is disabled: its sessions ended."),
    "user-enabled": N_("The account can sign in again."),
}


async def _admin(page: SignedIn) -> web.Page:
    service.require_admin(page.account)
    return page


AdminPage = Annotated[web.Page, Depends(_admin)]


async def _users_page(
    page: web.Page,
    *,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    link: dict[str, Any] | None = None,
    notice: str = "",
    status: int = 200,
) -> Response:
    all_sites = await service.all_sites(page.db)
    response = page.render(
        "users.html",
        users=await service.list_users(page.db),
        all_sites=all_sites,
        site_names={s.id: s.name for s in all_sites},
        error=error,
        errors=errors or {},
        values=values or {"email": "", "role": "viewer", "sites": []},
        link=link,
        mail_on=mail_configured(page.settings),
        notice=gettext(NOTICES[notice]) if notice in NOTICES else None,
    )
    response.status_code = status
    return response


async def _hand_over(page: web.Page, link: links.Link) -> Response:
    """The page with the new link to copy; e-mailed too when e-mail is configured."""
    shown: dict[str, Any] = {
        "email": link.user.email,
        "url": link.url(page.settings.public_url),
        "purpose": link.purpose.value,
        "mailed": False,
        "mail_error": None,
    }
    if mail_configured(page.settings):
        try:
            await send_mail(page.settings, link.mail(public_url=page.settings.public_url))
            shown["mailed"] = True
        except MailFailed as exc:
            shown["mail_error"] = str(exc)
    return await _users_page(page, link=shown)


@router.get("/users")
async def users(page: AdminPage, notice: str = "") -> Response:
    return await _users_page(page, notice=notice)


@router.post("/users/invite", dependencies=[CsrfChecked])
async def invite(
    page: AdminPage,
    email: Text,
    role: Annotated[Role, Form()],
    sites: SiteIds = [],  # noqa: B006 - FastAPI copies defaults per request
) -> Response:
    try:
        link = await links.invite(page.db, email=email, role=role, site_ids=sites, now=page.now)
    except InvalidField as exc:
        values = {"email": email, "role": role.value, "sites": sites}
        message = exc.detail.removeprefix(f"{exc.field}: ")
        return await _users_page(
            page, errors={exc.field: message}, values=values, status=exc.status_code
        )
    return await _hand_over(page, link)


@router.post("/users/{user_id}/reset-link", dependencies=[CsrfChecked])
async def reset_link(user_id: uuid.UUID, page: AdminPage) -> Response:
    try:
        link = await links.reset_link(page.db, user_id=user_id, now=page.now)
    except AppError as exc:
        return await _users_page(page, error=exc.detail, status=exc.status_code)
    return await _hand_over(page, link)


@router.post("/users", dependencies=[CsrfChecked])
async def create_user(
    page: AdminPage,
    email: Text,
    password: Text,
    role: Annotated[Role, Form()],
    sites: SiteIds = [],  # noqa: B006 - FastAPI copies defaults per request
) -> Response:
    try:
        await service.create_user(
            page.db, email=email, password=password, role=role, site_ids=sites, now=page.now
        )
    except AppError as exc:
        return await _users_page(page, error=exc.detail, status=exc.status_code)
    return redirect("/users?notice=user-created")


@router.post("/users/{user_id}/role", dependencies=[CsrfChecked])
async def set_role(user_id: uuid.UUID, page: AdminPage, role: Annotated[Role, Form()]) -> Response:
    try:
        await service.set_role(page.db, user_id=user_id, role=role, now=page.now)
    except AppError as exc:
        return await _users_page(page, error=exc.detail, status=exc.status_code)
    if user_id == page.account.user.id and role == Role.VIEWER:
        return redirect("/")  # stepped down: the users page is not theirs any more
    return redirect("/users?notice=role-saved")


@router.post("/users/{user_id}/sites", dependencies=[CsrfChecked])
async def set_sites(
    user_id: uuid.UUID,
    page: AdminPage,
    sites: SiteIds = [],  # noqa: B006 - FastAPI copies defaults per request
) -> Response:
    try:
        await service.set_viewer_sites(page.db, user_id=user_id, site_ids=sites, now=page.now)
    except AppError as exc:
        return await _users_page(page, error=exc.detail, status=exc.status_code)
    return redirect("/users?notice=sites-saved")


@router.post("/users/{user_id}/disable", dependencies=[CsrfChecked])
async def disable_user(user_id: uuid.UUID, page: AdminPage) -> Response:
    try:
        await service.set_disabled(
            page.db, actor=page.account, user_id=user_id, disabled=True, now=page.now
        )
    except AppError as exc:
        return await _users_page(page, error=exc.detail, status=exc.status_code)
    return redirect("/users?notice=user-disabled")


@router.post("/users/{user_id}/enable", dependencies=[CsrfChecked])
async def enable_user(user_id: uuid.UUID, page: AdminPage) -> Response:
    await service.set_disabled(
        page.db, actor=page.account, user_id=user_id, disabled=False, now=page.now
    )
    return redirect("/users?notice=user-enabled")
