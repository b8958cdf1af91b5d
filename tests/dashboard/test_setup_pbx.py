"""Connecting a PBX from the dashboard, over the ASGI app (both databases): each provider's
fields, a wrong secret made visible, the test call through the real hook, viewers held off."""

from __future__ import annotations

import json
import re
import uuid

from fastapi import FastAPI
from httpx import AsyncClient

from app.dashboard import service
from app.dashboard.service import Role
from app.state import state_of
from pbx_webhooks import refusals
from pbx_webhooks.providers.generic import sign
from tests.clock import ManualClock
from tests.dashboard.conftest import PASSWORD, csrf_of
from tests.dashboard.test_auth import _setup
from tests.factories import create_site

SECRET = re.compile(r'data-testid="secret" id="pbx-secret">([^<]+)<')
DETAIL = re.compile(r'href="(/sites/[^/]+/pbx/[0-9a-f-]{36})"')


async def _csrf(http: AsyncClient, path: str) -> str:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


async def _connect_generic(visitor: AsyncClient, site_id: str) -> tuple[str, str]:
    """The new integration's page and its secret, as the admin saw them once."""
    token = await _csrf(visitor, f"/sites/{site_id}/pbx")
    response = await visitor.post(
        f"/sites/{site_id}/pbx", data={"csrf_token": token, "provider": "generic", "name": "Office"}
    )
    assert response.status_code == 200, response.text
    secret = SECRET.search(response.text)
    assert secret is not None, response.text
    listing = (await visitor.get(f"/sites/{site_id}/pbx")).text
    detail = DETAIL.search(listing)
    assert detail is not None
    return detail.group(1), secret.group(1)


async def test_each_provider_asks_only_its_fields_and_says_what_is_missing(
    visitor: AsyncClient, client: AsyncClient
) -> None:
    await _setup(visitor)
    site = await create_site(client)
    page = (await visitor.get(f"/sites/{site['id']}/pbx")).text
    for provider in ("generic", "twilio", "zadarma", "mango", "telnyx"):
        assert f'data-testid="connect-{provider}"' in page
    assert 'name="auth_token"' in page
    assert 'name="api_salt"' in page
    token = csrf_of(page)
    # A Telnyx key that is not one: said beside the field, nothing stored.
    response = await visitor.post(
        f"/sites/{site['id']}/pbx",
        data={"csrf_token": token, "provider": "telnyx", "public_key": "not-a-key"},
    )
    assert response.status_code == 422
    assert 'data-error="public_key"' in response.text
    assert "base64 Ed25519 public key" in response.text
    assert "not-a-key" not in response.text  # secrets are never written back
    response = await visitor.post(
        f"/sites/{site['id']}/pbx",
        data={"csrf_token": token, "provider": "mango", "api_key": "k", "api_salt": ""},
    )
    assert response.status_code == 422
    assert 'data-error="api_salt"' in response.text
    assert "this field is required" in response.text
    listed = await client.get(f"/api/v1/sites/{site['id']}/pbx")
    assert listed.json()["items"] == []
    # A complete one is stored, through the same service as the API.
    response = await visitor.post(
        f"/sites/{site['id']}/pbx",
        data={"csrf_token": token, "provider": "twilio", "auth_token": "tok", "name": "Tw"},
    )
    assert response.status_code == 200, response.text
    (item,) = (await client.get(f"/api/v1/sites/{site['id']}/pbx")).json()["items"]
    assert item["provider"] == "twilio"
    assert item["name"] == "Tw"
    assert item["webhook_url"] in response.text
    assert 'data-testid="test-call"' not in response.text  # generic only


async def test_a_wrong_secret_is_visible_and_the_test_call_is_accepted(
    visitor: AsyncClient, client: AsyncClient, anonymous: AsyncClient, clock: ManualClock
) -> None:
    await _setup(visitor)
    site = await create_site(client)
    detail, secret = await _connect_generic(visitor, site["id"])
    integration_id = detail.rsplit("/", 1)[1]
    body = json.dumps(
        {
            "event": "call.ended",
            "call_id": "x",
            "called": "+74950000001",
            "timestamp": clock.now.isoformat(),
        }
    ).encode()
    stamp = str(int(clock.now.timestamp()))
    wrong = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    answer = await anonymous.post(
        f"/hooks/pbx/{integration_id}",
        content=body,
        headers={
            "content-type": "application/json",
            "webhook-id": "m1",
            "webhook-timestamp": stamp,
            "webhook-signature": sign(wrong, "m1", stamp, body),
        },
    )
    assert answer.status_code == 401
    page = (await visitor.get(detail)).text
    assert 'data-outcome="refused"' in page
    assert answer.json()["detail"] in page
    assert secret not in page  # shown once, at the creation only
    # The test call goes through the real hook: accepted, stored, folded into a call.
    token = csrf_of(page)
    response = await visitor.post(
        f"{detail}/test-call", data={"csrf_token": token, "called": "+7 495 000-00-01"}
    )
    assert response.status_code == 200
    assert 'data-testid="test-result"' in response.text
    assert "accepted" in response.text
    assert 'data-outcome="accepted"' in response.text
    calls = (await client.get(f"/api/v1/sites/{site['id']}/calls")).json()["items"]
    assert len(calls) == 1
    # Without the number dialled: said beside the field.
    response = await visitor.post(f"{detail}/test-call", data={"csrf_token": token, "called": ""})
    assert response.status_code == 422
    assert 'data-error="called"' in response.text


async def test_refusals_are_bounded_per_integration(
    visitor: AsyncClient, client: AsyncClient, app: FastAPI, clock: ManualClock
) -> None:
    await _setup(visitor)
    site = await create_site(client)
    detail, _ = await _connect_generic(visitor, site["id"])
    integration_id = uuid.UUID(detail.rsplit("/", 1)[1])
    for n in range(refusals.KEPT + 5):
        clock.advance(seconds=1)
        await refusals.record(
            state_of(app).engine, integration_id=integration_id, reason=f"bad {n}", now=clock.now
        )
    async with state_of(app).sessionmaker() as db:
        kept = await refusals.recent(db, integration_id=integration_id)
    assert len(kept) == refusals.KEPT
    assert kept[0].reason == f"bad {refusals.KEPT + 4}"
    assert kept[-1].reason == "bad 5"


async def test_viewers_see_no_forms_and_cannot_post(
    visitor: AsyncClient, client: AsyncClient, app: FastAPI, clock: ManualClock
) -> None:
    await _setup(visitor)
    site = await create_site(client)
    detail, _ = await _connect_generic(visitor, site["id"])
    async with state_of(app).sessionmaker() as db:
        await service.create_user(
            db,
            email="viewer@shop.example",
            password=PASSWORD,
            role=Role.VIEWER,
            site_ids=(uuid.UUID(site["id"]),),
            now=clock.now,
        )
        await db.commit()
    token = await _csrf(visitor, f"/sites/{site['id']}/pbx")
    await visitor.post("/logout", data={"csrf_token": token})
    token = await _csrf(visitor, "/login")
    signed_in = await visitor.post(
        "/login", data={"csrf_token": token, "email": "viewer@shop.example", "password": PASSWORD}
    )
    assert signed_in.status_code == 303
    page = (await visitor.get(f"/sites/{site['id']}/pbx")).text
    assert "connect-generic" not in page
    detail_page = await visitor.get(detail)
    assert detail_page.status_code == 200
    assert 'data-testid="test-call"' not in detail_page.text
    token = csrf_of(page)
    for path, data in (
        (f"/sites/{site['id']}/pbx", {"provider": "generic"}),
        (f"{detail}/test-call", {"called": "+74950000001"}),
        (f"{detail}/secret", {}),
    ):
        response = await visitor.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 403, path
