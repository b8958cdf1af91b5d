"""Setting up from the browser: a new admin creates a site, copies its snippet, pastes numbers
into a pool and sees the onboarding checklist turn green (real Chromium, desktop)."""

from __future__ import annotations

import uuid

import pytest

from tests.dashboard.conftest import Tab


@pytest.mark.only_on("sqlite")
def test_a_marketer_sets_up_a_site_and_a_pool_in_the_browser(admin: uuid.UUID, tab: Tab) -> None:
    tab.sign_in()
    page = tab.page
    page.click("[data-testid=create-first-site]")
    page.fill("input[name=name]", "Sofa shop")
    page.fill("textarea[name=domains]", "sofas.example")
    page.fill("input[name=country]", "XX")
    page.click("[data-testid=site-form] button[type=submit]")
    # The bad country is named beside its field; the rest stays as typed.
    page.locator("[data-error=country]").wait_for()
    assert page.input_value("input[name=name]") == "Sofa shop"
    page.fill("input[name=country]", "RU")
    page.fill("input[name=timezone]", "Europe/Moscow")
    page.click("[data-testid=site-form] button[type=submit]")

    snippet = page.locator("[data-testid=snippet]")
    snippet.wait_for()
    assert "/t/tracker.js" in snippet.inner_text()
    assert "No visit yet" in page.inner_text("[data-testid=snippet-status]")
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=tab.live.base)
    page.click("button[data-copy=snippet]")
    page.locator("button[data-copied=true]").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == snippet.inner_text()

    page.click("nav.tabs a[href$='/overview']")
    checklist = page.locator("[data-testid=onboarding]")
    assert checklist.locator("[data-step=numbers]").get_attribute("data-done") == "no"

    page.click("nav.tabs a[href$='/numbers']")
    page.click("[data-testid=new-pool]")
    page.fill("input[name=visits]", "300")
    page.click("[data-testid=sizing] button[type=submit]")
    assert "numbers" in page.inner_text("[data-testid=advice]")
    page.fill("input[name=target_number]", "8 495 000-00-00")
    page.fill("textarea[name=numbers]", "8 (495) 111-22-33\n+7 495 111 22 34\n\n84951112235")
    page.click("[data-testid=pool-form] button[type=submit]")
    page.locator("[data-testid=pool]").wait_for()
    assert "3 numbers" in page.inner_text("[data-testid=pool]")

    page.click("nav.tabs a[href$='/overview']")
    checklist = page.locator("[data-testid=onboarding]")
    assert checklist.locator("[data-step=numbers]").get_attribute("data-done") == "yes"
    assert checklist.locator("[data-step=snippet]").get_attribute("data-done") == "no"
    tab.assert_quiet()
