"""Users: invite links, reset links, roles and the last admin, over the ASGI app (both
databases). The e-mailed links are tests/dashboard/test_users_mail.py."""

from __future__ import annotations

import hashlib

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.dashboard import auth, links
from app.models import User, UserToken
from tests.clock import ManualClock
from tests.dashboard.accounts import (
    choose_password,
    invite,
    link_in,
    new_client,
    post_form,
    set_up_admin,
    sign_in,
    token_of,
)
from tests.dashboard.conftest import ADMIN_EMAIL, PASSWORD
from tests.factories import create_site

VIEWER = "viewer@agency.example"
NEW_PASSWORD = "a viewer's own passphrase"


async def test_an_invited_viewer_chooses_a_password_and_sees_only_its_site(
    visitor: AsyncClient,
    client: AsyncClient,
    app: FastAPI,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await set_up_admin(visitor)
    mine = await create_site(client, name="Sofa shop")
    other = await create_site(client, name="Other shop", domains=["other.example"])

    response = await invite(visitor, f" {VIEWER.upper()} ", sites=[mine["id"]])
    assert response.status_code == 200, response.text
    path = link_in(response.text)
    assert path.startswith("/invite/")
    # No e-mail configured: the page says so, and the copy button is there.
    assert "E-mail is not configured on this server" in response.text
    assert 'data-copy="access-link"' in response.text
    users = (await visitor.get("/users")).text
    assert VIEWER in users
    assert ">invited<" in users

    # Only the token's hash is stored.
    token = path.rsplit("/", 1)[1]
    async with sessionmaker() as db:
        stored = (await db.execute(select(UserToken))).scalar_one()
        user = await db.get(User, stored.user_id)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_hash
    assert user is not None
    assert user.email == VIEWER
    assert user.role == "viewer"
    # Invited, no password yet: nothing signs in with any password.
    async with new_client(app) as stranger:
        assert (await sign_in(stranger, VIEWER, "")).status_code in (401, 422)
        assert (await sign_in(stranger, VIEWER, NEW_PASSWORD)).status_code == 401

    async with new_client(app) as invitee:
        page = await invitee.get(path)
        assert page.status_code == 200
        assert VIEWER in page.text
        # Errors stand beside their field, and nothing is used up by them.
        short = await post_form(invitee, path, {"password": "short", "password_again": "short"})
        assert short.status_code == 422
        assert 'data-error="password"' in short.text
        differ = await post_form(
            invitee, path, {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD + "!"}
        )
        assert 'data-error="password_again"' in differ.text

        chosen = await choose_password(invitee, path, NEW_PASSWORD)
        assert chosen.status_code == 303
        home = await invitee.get("/")
        assert home.headers["location"] == f"/sites/{mine['id']}/overview"
        assert (await invitee.get(f"/sites/{mine['id']}/calls")).status_code == 200
        assert (await invitee.get(f"/sites/{other['id']}/calls")).status_code == 404
        # A viewer sees no users page and cannot invite, even with its own CSRF token.
        assert (await invitee.get("/users")).status_code == 403
        sneaky = await post_form(
            invitee,
            "/users/invite",
            {"email": "friend@agency.example", "role": "admin"},
            on=f"/sites/{mine['id']}/overview",
        )
        assert sneaky.status_code == 403
        # The link worked once.
        assert (await invitee.get(path)).status_code == 410
        again = await post_form(
            invitee,
            path,
            {"password": "yet another passphrase", "password_again": "yet another passphrase"},
            on=f"/sites/{mine['id']}/overview",
        )
        assert again.status_code == 410

    async with new_client(app) as later:
        assert (await sign_in(later, VIEWER, NEW_PASSWORD)).status_code == 303
    async with sessionmaker() as db:
        nobody = await db.scalar(select(User).where(User.email == "friend@agency.example"))
    assert nobody is None


async def test_an_invite_expires_after_72_hours(
    visitor: AsyncClient, client: AsyncClient, app: FastAPI, clock: ManualClock
) -> None:
    await set_up_admin(visitor)
    site = await create_site(client)
    path = link_in((await invite(visitor, VIEWER, sites=[site["id"]])).text)
    clock.advance(seconds=links.LINK_LIFETIME.total_seconds() - 60)
    async with new_client(app) as invitee:
        assert (await invitee.get(path)).status_code == 200
        token = await token_of(invitee, path)
        clock.advance(seconds=120)
        expired = await invitee.post(
            path,
            data={"csrf_token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        )
        assert expired.status_code == 410
        assert "expired or was used already" in expired.text
        assert (await invitee.get("/invite/not-a-token-at-all")).status_code == 410
        assert (await invitee.get("/invite/" + "x" * 200)).status_code == 422
        assert (await sign_in(invitee, VIEWER, NEW_PASSWORD)).status_code == 401


async def test_a_second_invite_voids_the_first_and_keeps_one_account(
    visitor: AsyncClient, client: AsyncClient, app: FastAPI
) -> None:
    await set_up_admin(visitor)
    site = await create_site(client)
    first = link_in((await invite(visitor, VIEWER, sites=[site["id"]])).text)
    second = link_in((await invite(visitor, VIEWER, role="admin")).text)
    assert first != second
    users = (await visitor.get("/users")).text
    assert users.count(f'data-email="{VIEWER}"') == 1
    async with new_client(app) as invitee:
        assert (await invitee.get(first)).status_code == 410
        assert (await choose_password(invitee, second, NEW_PASSWORD)).status_code == 303
        # Invited the second time as an admin: it has the users page.
        assert (await invitee.get("/users")).status_code == 200
    # An account with a password cannot be invited again.
    taken = await invite(visitor, VIEWER, sites=[site["id"]])
    assert taken.status_code == 422
    assert 'data-error="email"' in taken.text
    assert "has an account already" in taken.text


async def test_invite_errors_stand_beside_their_fields(visitor: AsyncClient) -> None:
    await set_up_admin(visitor)
    no_sites = await invite(visitor, VIEWER)
    assert no_sites.status_code == 422
    assert 'data-error="sites"' in no_sites.text
    assert f'value="{VIEWER}"' in no_sites.text  # what was typed stays
    bad = await invite(visitor, "not an address", role="admin")
    assert 'data-error="email"' in bad.text
    unchecked = await visitor.post("/users/invite", data={"email": VIEWER, "role": "admin"})
    assert unchecked.status_code == 403  # no CSRF token


async def test_a_reset_link_sets_a_new_password_and_ends_other_sessions(
    visitor: AsyncClient, client: AsyncClient, app: FastAPI
) -> None:
    await set_up_admin(visitor)
    site = await create_site(client)
    path = link_in((await invite(visitor, VIEWER, sites=[site["id"]])).text)
    async with new_client(app) as viewer, new_client(app) as thief:
        assert (await choose_password(viewer, path, NEW_PASSWORD)).status_code == 303
        assert (await sign_in(thief, VIEWER, NEW_PASSWORD)).status_code == 303
        assert (await thief.get("/")).status_code == 303

        users = (await visitor.get("/users")).text
        user_id = users.split(f'data-email="{VIEWER}"')[1].split("/users/")[1].split("/")[0]
        response = await post_form(visitor, f"/users/{user_id}/reset-link", {}, on="/users")
        reset = link_in(response.text)
        assert reset.startswith("/reset/")
        assert (await visitor.get(path)).status_code == 410  # the invite stays used

        fresh = "the passphrase after the reset"
        assert (await choose_password(viewer, reset, fresh)).status_code == 303
        assert (await viewer.get(f"/sites/{site['id']}/overview")).status_code == 200
        # Every other session of the account is over, and the old password opens nothing.
        ended = await thief.get(f"/sites/{site['id']}/overview")
        assert ended.headers["location"].startswith("/login")
        assert (await sign_in(thief, VIEWER, NEW_PASSWORD)).status_code == 401
        assert (await sign_in(thief, VIEWER, fresh)).status_code == 303
        assert (await viewer.get(reset)).status_code == 410


async def test_the_last_admin_cannot_be_demoted_and_roles_change(
    visitor: AsyncClient, client: AsyncClient, app: FastAPI
) -> None:
    await set_up_admin(visitor)
    site = await create_site(client)
    users = (await visitor.get("/users")).text
    me = users.split(f'data-email="{ADMIN_EMAIL}"')[1].split("/users/")[1].split("/")[0]

    refused = await post_form(visitor, f"/users/{me}/role", {"role": "viewer"}, on="/users")
    assert refused.status_code == 409
    assert "is the last admin" in refused.text
    # An invited admin who has not chosen a password yet does not count.
    second = link_in((await invite(visitor, "second@shop.example", role="admin")).text)
    refused = await post_form(visitor, f"/users/{me}/role", {"role": "viewer"}, on="/users")
    assert refused.status_code == 409

    async with new_client(app) as other_admin:
        assert (await choose_password(other_admin, second, NEW_PASSWORD)).status_code == 303
        # Two admins now: one may step down, and is a viewer on its next page.
        demoted = await post_form(visitor, f"/users/{me}/role", {"role": "viewer"}, on="/users")
        assert demoted.status_code == 303
        assert demoted.headers["location"] == "/"
        assert (await visitor.get("/users")).status_code == 403
        # The other is the last admin now; it gives the viewer a site, then makes it admin again.
        saved = await post_form(
            other_admin, f"/users/{me}/sites", {"sites": [site["id"]]}, on="/users"
        )
        assert saved.status_code == 303
        users = (await other_admin.get("/users")).text
        them = users.split('data-email="second@shop.example"')[1].split("/users/")[1]
        them = them.split("/")[0]
        last = await post_form(other_admin, f"/users/{them}/role", {"role": "viewer"}, on="/users")
        assert last.status_code == 409
        promoted = await post_form(other_admin, f"/users/{me}/role", {"role": "admin"}, on="/users")
        assert promoted.status_code == 303
    assert (await visitor.get("/users")).status_code == 200


async def test_a_pending_invite_has_no_session_fingerprint_to_forge(
    visitor: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """An invited account's empty hash is never a password: verify refuses every guess."""
    await set_up_admin(visitor)
    await invite(visitor, "admin2@shop.example", role="admin")
    async with sessionmaker() as db:
        user = await db.scalar(select(User).where(User.email == "admin2@shop.example"))
    assert user is not None
    assert user.password_hash == ""
    assert not await auth.verify_password(user.password_hash, "")
    assert not await auth.verify_password(user.password_hash, PASSWORD)


async def test_forgot_password_without_email_says_to_ask_an_admin(
    visitor: AsyncClient,
) -> None:
    await set_up_admin(visitor)
    visitor.cookies.clear()
    login = await visitor.get("/login")
    assert 'href="/login/forgot"' in login.text
    page = await visitor.get("/login/forgot")
    assert 'data-testid="no-mail"' in page.text
    answer = await post_form(visitor, "/login/forgot", {"email": ADMIN_EMAIL}, on="/login")
    assert answer.status_code == 200
    assert 'data-testid="no-mail"' in answer.text


async def test_a_disabled_accounts_links_open_nothing(
    visitor: AsyncClient, client: AsyncClient, app: FastAPI
) -> None:
    await set_up_admin(visitor)
    site = await create_site(client)
    path = link_in((await invite(visitor, VIEWER, sites=[site["id"]])).text)
    users = (await visitor.get("/users")).text
    user_id = users.split(f'data-email="{VIEWER}"')[1].split("/users/")[1].split("/")[0]
    assert (
        await post_form(visitor, f"/users/{user_id}/disable", {}, on="/users")
    ).status_code == 303
    async with new_client(app) as invitee:
        # A disabled account's links open nothing.
        assert (await invitee.get(path)).status_code == 410
    refused = await post_form(visitor, f"/users/{user_id}/reset-link", {}, on="/users")
    assert refused.status_code == 409
