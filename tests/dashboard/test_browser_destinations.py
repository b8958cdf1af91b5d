"""Conversion destinations in real Chromium: connect GA4 from its form (an error beside the
field first), see it listed with its rule, change the rule; usable at phone width."""

from __future__ import annotations

import uuid

import pytest

from tests.dashboard.conftest import Tab


@pytest.mark.only_on("sqlite")
def test_a_marketer_connects_ga4_and_sets_its_rule(admin: uuid.UUID, tab: Tab) -> None:
    site = tab.live.api.post(
        "/api/v1/sites",
        json={"name": "Shop", "domains": ["shop.example"], "country": "RU",
              "timezone": "Europe/Moscow"},
    ).json()  # fmt: skip
    sid = site["id"]
    tab.sign_in()
    page = tab.page
    page.set_viewport_size({"width": 390, "height": 844})
    tab.go(f"/sites/{sid}/integrations")
    page.click(f"a[href='/sites/{sid}/destinations']")

    page.click("details[data-kind=ga4] summary")
    form = page.locator("[data-testid=connect-ga4]")
    form.locator("input[name=measurement_id]").fill("UA-1234-1")
    form.locator("input[name=api_secret]").fill("a-secret-of-ga4")
    form.locator("input[name=min_talk_s]").fill("30")
    form.locator("button[type=submit]").click()
    page.locator("[data-error=measurement_id]").wait_for()
    form = page.locator("[data-testid=connect-ga4]")
    assert form.locator("input[name=min_talk_s]").input_value() == "30"
    assert form.locator("input[name=api_secret]").input_value() == ""  # never written back
    form.locator("input[name=measurement_id]").fill("G-ABCDEF1234")
    form.locator("input[name=api_secret]").fill("a-secret-of-ga4")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**notice=connected")

    destination = page.locator("[data-testid=destination]")
    assert "ga4" in destination.inner_text()
    assert "measurement_id=G-ABCDEF1234" in destination.inner_text()
    assert "a-secret-of-ga4" not in page.content()
    # The page's own content fits a phone's screen (wide tables scroll in their box).
    fits = "(m => m.scrollWidth <= m.clientWidth)(document.querySelector('main'))"
    assert page.evaluate(fits)

    destination.locator("summary").click()
    rule = destination.locator("[data-testid=rule-form]")
    assert rule.locator("input[name=min_talk_s]").input_value() == "30"
    rule.locator("input[name=first_time_only]").check()
    rule.locator("button[type=submit]").click()
    page.wait_for_url("**notice=rule")
    [item] = tab.live.api.get(f"/api/v1/sites/{sid}/destinations").json()["items"]
    assert item["rule"]["first_time_only"] is True
    assert item["rule"]["min_talk_s"] == 30
    tab.assert_quiet()
