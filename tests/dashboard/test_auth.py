"""Accounts, the session cookie and CSRF, over the ASGI app (fast, both databases)."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from httpx import ASGITransport, AsyncClient

from app.dashboard import (
    account_endpoints,
    auth,
    costs_endpoints,
    endpoints,
    links_endpoints,
    users_endpoints,
)
from app.dashboard.auth import SessionCodec, SessionData
from app.dashboard.csrf import check_csrf
from app.dashboard.web import safe_next
from app.demo import endpoints as demo_endpoints
from tests.conftest import TEST_ADMIN_TOKEN
from tests.dashboard.conftest import ADMIN_EMAIL, PASSWORD, csrf_of

# --- the cookie ----------------------------------------------------------------------------


def test_the_cookie_round_trips_and_refuses_tampering() -> None:
    codec = SessionCodec("a-long-admin-token-0123456789")
    data = SessionData.anonymous().signed_in(uuid.uuid4(), "fingerprint")
    raw = codec.dumps(data)
    assert codec.loads(raw) == data
    assert codec.loads(raw[:-2] + ("A" if raw[-2] != "A" else "B") + raw[-1]) is None
    assert codec.loads("garbage") is None
    assert codec.loads(None) is None
    # Another admin token (rotated): every session ends.
    assert SessionCodec("another-admin-token-9876543210").loads(raw) is None


def test_the_cookie_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = SessionCodec("a-long-admin-token-0123456789")
    real = auth.SESSION_LIFETIME.total_seconds()
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)
    raw = codec.dumps(SessionData.anonymous())
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0 + real + 5)
    assert codec.loads(raw) is None


def test_the_signing_key_is_not_the_admin_token() -> None:
    token = "a-long-admin-token-0123456789"
    assert token.encode() not in SessionCodec(token).key


async def test_passwords_are_argon2id_and_verified() -> None:
    hashed = await auth.hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert await auth.verify_password(hashed, PASSWORD)
    assert not await auth.verify_password(hashed, PASSWORD + "!")
    assert not await auth.verify_password(None, PASSWORD)
    assert not await auth.verify_password("not a hash", PASSWORD)


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/sites/1/calls?from=2026-11-01", "/sites/1/calls?from=2026-11-01"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        (None, "/"),
    ],
)
def test_only_local_paths_are_followed_after_sign_in(target: str | None, safe: str) -> None:
    assert safe_next(target) == safe


def test_every_dashboard_form_checks_csrf() -> None:
    """Every POST route of the dashboard has the CSRF check, except the demo CRM inbox's
    receiving end, which a machine calls with a signature instead."""
    routers = [
        account_endpoints.router,
        users_endpoints.router,
        links_endpoints.router,
        endpoints.pages,
        costs_endpoints.router,
        demo_endpoints.router,
    ]
    posts = [
        r
        for router in routers
        for r in router.routes
        if isinstance(r, APIRoute) and "POST" in (r.methods or set())
    ]
    assert len(posts) >= 12
    for route in posts:
        calls = [d.call for d in route.dependant.dependencies]
        assert check_csrf in calls, route.path
    [hook] = [r for r in demo_endpoints.hooks.routes if isinstance(r, APIRoute)]
    assert check_csrf not in [d.call for d in hook.dependant.dependencies]


# --- over HTTP -----------------------------------------------------------------------------


async def _form(http: AsyncClient, path: str) -> str:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


async def _setup(http: AsyncClient) -> None:
    token = await _form(http, "/setup")
    response = await http.post(
        "/setup",
        data={
            "csrf_token": token,
            "admin_token": TEST_ADMIN_TOKEN,
            "email": ADMIN_EMAIL.upper(),
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )
    assert response.status_code == 303, response.text


async def test_setup_then_sign_in_by_email_in_any_case(visitor: AsyncClient) -> None:
    assert (await visitor.get("/")).headers["location"] == "/setup"
    await _setup(visitor)
    assert (await visitor.get("/")).status_code == 200  # signed in: no sites yet
    token = await _form(visitor, "/")
    assert (await visitor.post("/logout", data={"csrf_token": token})).status_code == 303
    assert (await visitor.get("/")).headers["location"].startswith("/login")
    # Setup is closed now, whatever is posted to it.
    assert (await visitor.get("/setup")).headers["location"] == "/login"
    token = await _form(visitor, "/login")
    response = await visitor.post(
        "/login",
        data={"csrf_token": token, "email": " Admin@Shop.Example ", "password": PASSWORD},
    )
    assert response.status_code == 303


async def test_signing_out_ends_the_session_on_the_server(
    visitor: AsyncClient, app: FastAPI
) -> None:
    await _setup(visitor)
    stolen = visitor.cookies[auth.COOKIE_NAME]
    token = await _form(visitor, "/")
    assert (await visitor.post("/logout", data={"csrf_token": token})).status_code == 303

    # The cookie as it was before signing out, replayed from elsewhere, opens nothing.
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="https://testserver") as replay:
        replay.cookies.set(auth.COOKIE_NAME, stolen)
        response = await replay.get("/account")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")

    # Signing in again opens a session that works.
    token = await _form(visitor, "/login")
    response = await visitor.post(
        "/login", data={"csrf_token": token, "email": ADMIN_EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 303
    assert (await visitor.get("/account")).status_code == 200


async def test_pages_carry_security_headers(visitor: AsyncClient) -> None:
    response = await visitor.get("/setup")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    # The test settings' public URL is https: the cookie is Secure there.
    assert "Secure" in cookie


async def test_sign_in_attempts_are_limited(visitor: AsyncClient) -> None:
    await _setup(visitor)
    visitor.cookies.clear()
    token = await _form(visitor, "/login")
    statuses = []
    # Setting up was the first attempt of this address.
    for _ in range(account_endpoints.SIGN_IN_LIMIT.requests - 1):
        response = await visitor.post(
            "/login", data={"csrf_token": token, "email": ADMIN_EMAIL, "password": "wrong!"}
        )
        statuses.append(response.status_code)
    assert set(statuses) == {401}
    response = await visitor.post(
        "/login", data={"csrf_token": token, "email": ADMIN_EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 429
    assert "too many sign-in attempts" in response.text


async def test_a_changed_password_ends_other_sessions(visitor: AsyncClient) -> None:
    await _setup(visitor)
    stolen = dict(visitor.cookies)
    token = await _form(visitor, "/account")
    new = "an entirely new passphrase"
    response = await visitor.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": new,
            "new_password_again": new,
        },
    )
    assert response.status_code == 303
    assert (await visitor.get("/account")).status_code == 200  # this session goes on
    visitor.cookies.clear()
    visitor.cookies.update(stolen)
    assert (await visitor.get("/account")).headers["location"].startswith("/login")
