"""Invite and reset links by e-mail, through a real SMTP server (tests/smtp_server.py)."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from pydantic import SecretStr

from app.config import Settings
from tests.conftest import PUBLIC_URL
from tests.dashboard.accounts import (
    choose_password,
    invite,
    link_in,
    new_client,
    post_form,
    set_up_admin,
    sign_in,
)
from tests.dashboard.conftest import ADMIN_EMAIL, PASSWORD
from tests.factories import create_site
from tests.smtp_server import Received, SmtpInbox

VIEWER = "viewer@agency.example"
URL = re.compile(re.escape(PUBLIC_URL) + r"(/(?:invite|reset)/[A-Za-z0-9_-]+)")


@pytest.fixture
def settings(settings: Settings, smtp_inbox: SmtpInbox) -> Settings:
    return settings.model_copy(
        update={"smtp_url": SecretStr(smtp_inbox.url), "mail_from": "callsource@shop.example"}
    )


def path_in(received: Received) -> str:
    body = received.message.get_body(("plain",))
    assert body is not None
    found = URL.search(body.get_content())
    assert found is not None, body.get_content()
    return found.group(1)


async def test_an_invite_is_e_mailed_and_its_link_sets_the_password(
    visitor: AsyncClient, client: AsyncClient, app: FastAPI, smtp_inbox: SmtpInbox
) -> None:
    await set_up_admin(visitor)
    site = await create_site(client)
    response = await invite(visitor, VIEWER, sites=[site["id"]])
    assert 'data-testid="link-mailed"' in response.text

    [received] = await smtp_inbox.wait_for(1)
    assert received.envelope_to == [VIEWER]
    assert received.message["Subject"] == "Your Callsource account"
    path = path_in(received)
    assert path == link_in(response.text)  # the same link as on the page

    async with new_client(app) as invitee:
        assert (await choose_password(invitee, path, "the viewer's passphrase")).status_code == 303
        assert (await invitee.get("/")).headers["location"] == f"/sites/{site['id']}/overview"
    async with new_client(app) as later:
        assert (await sign_in(later, VIEWER, "the viewer's passphrase")).status_code == 303


async def test_forgot_password_mails_a_reset_link_and_reveals_nothing(
    visitor: AsyncClient, app: FastAPI, smtp_inbox: SmtpInbox
) -> None:
    await set_up_admin(visitor)
    async with new_client(app) as stolen:
        assert (await sign_in(stolen, ADMIN_EMAIL, PASSWORD)).status_code == 303

        async with new_client(app) as someone:
            unknown = await post_form(
                someone, "/login/forgot", {"email": "nobody@shop.example"}, on="/login/forgot"
            )
            known = await post_form(
                someone, "/login/forgot", {"email": ADMIN_EMAIL}, on="/login/forgot"
            )
            assert unknown.status_code == known.status_code == 200
            assert unknown.text.replace("nobody@shop.example", ADMIN_EMAIL) == known.text
            [received] = await smtp_inbox.wait_for(1)
            assert received.envelope_to == [ADMIN_EMAIL]
            path = path_in(received)
            assert path.startswith("/reset/")

            fresh = "the admin's new passphrase"
            assert (await choose_password(someone, path, fresh)).status_code == 303
            assert (await someone.get("/users")).status_code == 200
        # The session opened with the old password is over.
        assert (await stolen.get("/users")).headers["location"].startswith("/login")
    # Only the one message: the unknown e-mail got none.
    assert len(smtp_inbox.messages) == 1


async def test_the_invite_speaks_the_inviting_admins_language(
    visitor: AsyncClient, client: AsyncClient, smtp_inbox: SmtpInbox
) -> None:
    await set_up_admin(visitor)
    site = await create_site(client)
    visitor.headers["Accept-Language"] = "ru-RU,ru;q=0.9"
    response = await invite(visitor, VIEWER, sites=[site["id"]])
    assert 'data-testid="link-mailed"' in response.text

    [received] = await smtp_inbox.wait_for(1)
    assert received.message["Subject"] == "Ваша учётная запись Callsource"
    body = received.message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Вас пригласили в Callsource" in text
    assert "Ссылка действует один раз, 72 часа." in text  # 72: the "2" form
    assert path_in(received) == link_in(response.text)


async def test_a_reset_mail_speaks_the_accounts_own_language(
    visitor: AsyncClient, app: FastAPI, smtp_inbox: SmtpInbox
) -> None:
    await set_up_admin(visitor)
    # The account chose Spanish; the browser that asks for the reset says Russian.
    await post_form(visitor, "/language", {"language": "es", "next": "/account"}, on="/account")
    async with new_client(app) as someone:
        someone.headers["Accept-Language"] = "ru"
        await post_form(someone, "/login/forgot", {"email": ADMIN_EMAIL}, on="/login/forgot")
    [received] = await smtp_inbox.wait_for(1)
    assert received.message["Subject"] == "Una nueva contraseña de Callsource"
    body = received.message.get_body(("plain",))
    assert body is not None
    assert f"Abra este enlace para elegir una nueva contraseña para {ADMIN_EMAIL}:" in (
        body.get_content()
    )
