"""Helpers of the account tests over ASGI: sign in, post a dashboard form, read a link."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from tests.conftest import PUBLIC_URL, TEST_ADMIN_TOKEN
from tests.dashboard.conftest import ADMIN_EMAIL, PASSWORD, csrf_of

LINK = re.compile(r'data-testid="link-url">([^<]+)<')


async def token_of(http: AsyncClient, path: str) -> str:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


async def post_form(
    http: AsyncClient, path: str, data: dict[str, Any], *, on: str = ""
) -> Response:
    """Posts `data` with the CSRF token of the page `on` (the path itself by default)."""
    token = await token_of(http, on or path)
    return await http.post(path, data={"csrf_token": token, **data})


async def set_up_admin(http: AsyncClient) -> None:
    response = await post_form(
        http,
        "/setup",
        {
            "admin_token": TEST_ADMIN_TOKEN,
            "email": ADMIN_EMAIL,
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )
    assert response.status_code == 303, response.text


async def sign_in(http: AsyncClient, email: str, password: str) -> Response:
    return await post_form(http, "/login", {"email": email, "password": password})


def link_in(html: str) -> str:
    """The one-time link shown on the Users page, as a path of the app."""
    found = LINK.search(html)
    assert found is not None, "the page shows no link"
    url = found.group(1)
    assert url.startswith(PUBLIC_URL + "/"), url
    return url.removeprefix(PUBLIC_URL)


async def invite(
    admin: AsyncClient, email: str, *, role: str = "viewer", sites: list[str] | None = None
) -> Response:
    return await post_form(
        admin, "/users/invite", {"email": email, "role": role, "sites": sites or []}, on="/users"
    )


async def choose_password(http: AsyncClient, path: str, password: str) -> Response:
    return await post_form(http, path, {"password": password, "password_again": password})


def new_client(app: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="https://testserver")
