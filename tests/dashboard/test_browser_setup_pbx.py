"""A generic PBX connected in Chromium and its test call pressed: the call is there."""

from __future__ import annotations

import uuid

from tests.dashboard.conftest import Tab
from tests.dashboard.live import Live


def test_connect_a_generic_pbx_and_send_a_test_call(live: Live, admin: uuid.UUID, tab: Tab) -> None:
    site = live.api.post(
        "/api/v1/sites",
        json={"name": "Shop", "domains": ["shop.example"], "country": "RU", "timezone": "UTC"},
    ).json()
    sid = site["id"]
    tab.sign_in()
    page = tab.page
    tab.go(f"/sites/{sid}/integrations")
    page.click("[data-testid=pbx-setup]")
    page.click("[data-provider=generic] summary")
    page.fill("[data-testid=connect-generic] input[name=name]", "Office Asterisk")
    page.click("[data-testid=connect-generic] button[type=submit]")
    assert page.inner_text("[data-testid=secret]").startswith("whsec_")
    url = page.inner_text("[data-testid=webhook-url]")
    assert url.startswith(live.base + "/hooks/pbx/")
    page.fill("[data-testid=test-call] input[name=called]", "+7 495 000-00-01")
    page.click("[data-testid=test-call] button[type=submit]")
    assert "accepted" in page.inner_text("[data-testid=test-result]")
    assert page.locator("[data-testid=events] tr[data-outcome=accepted]").count() == 1
    calls = live.api.get(f"/api/v1/sites/{sid}/calls").json()["items"]
    assert len(calls) == 1
    tab.assert_quiet()
