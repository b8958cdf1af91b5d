"""Destinations from the dashboard (both databases): connect each platform with only its
fields, errors beside the field and nothing stored, the rule form, the deliveries with their
status and a retry, and a viewer who sees no forms."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.dashboard import service
from app.dashboard.service import Role
from crm_push.worker import Worker
from tests.clock import ManualClock
from tests.crm_push import fake_platforms as fp
from tests.crm_push.conftest import run_until_settled
from tests.crm_push.destinations_world import Destinations
from tests.dashboard.conftest import PASSWORD, csrf_of
from tests.dashboard.test_auth import _setup


@pytest.fixture
async def visitor(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """A cookie-keeping browser-like client on https (the dashboard's cookies are Secure)."""
    async with AsyncClient(transport=ASGITransport(app=app), base_url="https://testserver") as http:
        yield http


async def _page(http: AsyncClient, dest: Destinations, query: str = "") -> str:
    response = await http.get(f"/sites/{dest.sid}/destinations{query}")
    assert response.status_code == 200, response.text
    return response.text


async def test_each_platform_is_connected_from_its_form(
    visitor: AsyncClient,
    dest: Destinations,
    client: AsyncClient,
) -> None:
    await _setup(visitor)
    integrations = await visitor.get(f"/sites/{dest.sid}/integrations")
    assert f'href="/sites/{dest.sid}/destinations"' in integrations.text
    page = await _page(visitor, dest)
    for kind in ("ga4", "yandex_metrika", "google_ads"):
        assert f'data-testid="connect-{kind}"' in page
    # Only the fields each platform needs, each with where to find it.
    start = page.index('data-testid="connect-ga4"')
    ga4_form = page[start : page.index("</form>", start)]
    assert 'name="measurement_id"' in ga4_form
    assert 'name="api_secret"' in ga4_form
    assert 'name="refresh_token"' not in ga4_form
    assert 'name="counter_id"' not in ga4_form
    assert "Measurement Protocol API secrets" in ga4_form
    token = csrf_of(page)

    bad = await visitor.post(
        f"/sites/{dest.sid}/destinations/connect",
        data={"csrf_token": token, "kind": "ga4", "measurement_id": "UA-1-1",
              "api_secret": "secret-never-echoed", "answered_only": "on"},
    )  # fmt: skip
    assert bad.status_code == 422
    assert 'data-error="measurement_id"' in bad.text
    assert "secret-never-echoed" not in bad.text
    assert 'value="UA-1-1"' in bad.text  # kept for fixing
    assert (await client.get(f"/api/v1/sites/{dest.sid}/destinations")).json()["items"] == []

    good = await visitor.post(
        f"/sites/{dest.sid}/destinations/connect",
        data={"csrf_token": token, "kind": "ga4", "measurement_id": fp.MEASUREMENT_ID,
              "api_secret": fp.API_SECRET, "min_talk_s": "20", "answered_only": "on",
              "send_value": "on"},
    )  # fmt: skip
    assert good.status_code == 303, good.text
    metrika = await visitor.post(
        f"/sites/{dest.sid}/destinations/connect",
        data={"csrf_token": token, "kind": "yandex_metrika", "counter_id": "44556677",
              "token": fp.METRIKA_TOKEN, "target": "call", "deal_target": "deal_won"},
    )  # fmt: skip
    assert metrika.status_code == 303, metrika.text
    ads = await visitor.post(
        f"/sites/{dest.sid}/destinations/connect",
        data={"csrf_token": token, "kind": "google_ads", "customer_id": "123-456-7890",
              "conversion_action": "42", "login_customer_id": "",
              "developer_token": fp.DEVELOPER_TOKEN, "client_id": fp.OAUTH_CLIENT_ID,
              "client_secret": fp.OAUTH_CLIENT_SECRET, "refresh_token": fp.REFRESH_TOKEN,
              "answered_only": "on", "exclude_spam": "on"},
    )  # fmt: skip
    assert ads.status_code == 303, ads.text

    items = (await client.get(f"/api/v1/sites/{dest.sid}/destinations")).json()["items"]
    by_kind = {item["kind"]: item for item in items}
    assert by_kind["ga4"]["rule"] == {
        "min_talk_s": 20,
        "first_time_only": False,
        "answered_only": True,
        "exclude_spam": False,  # unticked
        "send_value": True,
    }
    assert by_kind["yandex_metrika"]["config"]["counter_id"] == 44556677
    assert by_kind["google_ads"]["config"]["customer_id"] == "1234567890"
    assert by_kind["google_ads"]["rule"]["send_value"] is False
    shown = await _page(visitor, dest)
    for secret in (fp.API_SECRET, fp.METRIKA_TOKEN, fp.REFRESH_TOKEN, fp.OAUTH_CLIENT_SECRET):
        assert secret not in shown


async def test_the_rule_form_and_the_deliveries_with_a_retry(
    visitor: AsyncClient,
    dest: Destinations,
    client: AsyncClient,
    worker: Worker,
    clock: ManualClock,
    platforms: fp.PlatformsServer,
) -> None:
    await _setup(visitor)
    ads = await dest.destination("google_ads")
    platforms.platforms.ads_gclid_errors["Cj0KCQ-test-gclid"] = "EXPIRED_EVENT"
    await dest.call(await dest.visit())
    await run_until_settled(worker, clock)

    page = await _page(visitor, dest, "?status=dead")
    assert 'data-status="dead"' in page
    assert "EXPIRED_EVENT" in page
    [delivery] = await dest.deliveries(ads, status="dead")
    assert f'data-delivery="{delivery["id"]}"' in page
    assert 'data-status="sent"' not in await _page(visitor, dest, "?status=sent")

    token = csrf_of(page)
    del platforms.platforms.ads_gclid_errors["Cj0KCQ-test-gclid"]
    retried = await visitor.post(
        f"/sites/{dest.sid}/destinations/{ads['id']}/deliveries/{delivery['id']}/retry",
        data={"csrf_token": token, "status": "dead"},
    )
    assert retried.status_code == 303
    assert "notice=retried" in retried.headers["location"]
    await run_until_settled(worker, clock)
    assert [d["id"] for d in await dest.deliveries(ads, status="sent")] == [delivery["id"]]
    call_page = await visitor.get(f"/sites/{dest.sid}/calls/{delivery['call_id']}")
    assert call_page.status_code == 200
    conversions = call_page.text[call_page.text.index('data-testid="conversions"') :]
    assert f'data-delivery="{delivery["id"]}"' in conversions
    assert "call conversion" in conversions

    saved = await visitor.post(
        f"/sites/{dest.sid}/destinations/{ads['id']}/rule",
        data={"csrf_token": token, "min_talk_s": "45", "first_time_only": "on",
              "answered_only": "on"},
    )  # fmt: skip
    assert saved.status_code == 303
    one = (await client.get(f"/api/v1/sites/{dest.sid}/destinations/{ads['id']}")).json()
    assert one["rule"] == {
        "min_talk_s": 45,
        "first_time_only": True,
        "answered_only": True,
        "exclude_spam": False,
        "send_value": False,
    }
    wrong = await visitor.post(
        f"/sites/{dest.sid}/destinations/{ads['id']}/rule",
        data={"csrf_token": token, "min_talk_s": "-3"},
    )
    assert wrong.status_code == 422
    assert 'data-error="min_talk_s"' in wrong.text

    retired = await visitor.post(
        f"/sites/{dest.sid}/destinations/{ads['id']}/retire", data={"csrf_token": token}
    )
    assert retired.status_code == 303
    assert (await client.get(f"/api/v1/sites/{dest.sid}/destinations")).json()["items"] == []


async def test_a_viewer_sees_deliveries_but_no_forms(
    visitor: AsyncClient,
    dest: Destinations,
    db: AsyncSession,
    clock: ManualClock,
) -> None:
    await _setup(visitor)
    ga4 = await dest.destination("ga4")
    await service.create_user(
        db,
        email="viewer@shop.example",
        password=PASSWORD,
        role=Role.VIEWER,
        site_ids=(uuid.UUID(dest.sid),),
        now=clock.now,
    )
    await db.commit()
    account = await visitor.get("/account")
    await visitor.post("/logout", data={"csrf_token": csrf_of(account.text)})
    login = await visitor.get("/login")
    await visitor.post(
        "/login",
        data={"csrf_token": csrf_of(login.text), "email": "viewer@shop.example",
              "password": PASSWORD},
    )  # fmt: skip

    page = await _page(visitor, dest)
    assert 'data-testid="destination"' in page
    assert 'data-testid="rule-form"' not in page
    assert 'data-testid="connect-ga4"' not in page
    assert 'data-testid="retire"' not in page
    token = csrf_of(page)
    for path in ("connect", f"{ga4['id']}/rule", f"{ga4['id']}/retire"):
        response = await visitor.post(
            f"/sites/{dest.sid}/destinations/{path}", data={"csrf_token": token, "kind": "ga4"}
        )
        assert response.status_code == 403, path


async def _tested(visitor: AsyncClient, dest: Destinations, destination_id: str) -> str:
    page = await _page(visitor, dest)
    response = await visitor.post(
        f"/sites/{dest.sid}/destinations/{destination_id}/test",
        data={"csrf_token": csrf_of(page)},
    )
    assert response.status_code == 200, response.text
    text = response.text
    start = text.rindex("<p", 0, text.index('data-testid="destination-test-result"'))
    return text[start : text.index("</p>", start)]


async def test_the_connection_test_of_each_platform(
    visitor: AsyncClient, dest: Destinations, platforms: fp.PlatformsServer
) -> None:
    await _setup(visitor)
    ga4 = await dest.destination("ga4")
    line = await _tested(visitor, dest, ga4["id"])
    assert "good" in line
    assert "200 OK" in line
    assert fp.API_SECRET not in line
    assert platforms.platforms.ga4_events == []  # validated only, never recorded

    metrika = await dest.destination("yandex_metrika")
    assert "shop.example" in await _tested(visitor, dest, metrika["id"])
    revoked = await dest.destination("yandex_metrika", token="y0_revoked-token-xyz")
    line = await _tested(visitor, dest, revoked["id"])
    assert "bad" in line
    assert "401" in line
    assert "Invalid oauth_token" in line

    ads = await dest.destination("google_ads")
    line = await _tested(visitor, dest, ads["id"])
    assert "good" in line
    assert "Calls from ads" in line
    other = await dest.destination("google_ads", conversion_action="111")
    assert "no such conversion action" in await _tested(visitor, dest, other["id"])
    expired = await dest.destination("google_ads", refresh_token="1//expired-refresh-token")
    line = await _tested(visitor, dest, expired["id"])
    assert "invalid_grant" in line
    assert "1//expired-refresh-token" not in line
