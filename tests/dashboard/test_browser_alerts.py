"""Alerts in Chromium: a Telegram alert added from the Integrations form, on a phone's width
too, and removed again."""

from __future__ import annotations

import uuid

from tests.crm_push.fake_telegram import BOT_TOKEN, CHAT_ID
from tests.dashboard.conftest import Tab
from tests.dashboard.world import World


def test_an_alert_is_added_and_removed_from_a_phone(
    world: World, admin: uuid.UUID, tab: Tab
) -> None:
    sid = world.site["id"]
    tab.sign_in()
    page = tab.page
    page.set_viewport_size({"width": 390, "height": 844})
    tab.go(f"/sites/{sid}/integrations")
    panel = page.locator("[data-testid=alerts]")
    assert "No alerts yet." in panel.inner_text()
    page.click("[data-alert-channel=telegram] summary")
    form = page.locator("[data-testid=new-alert-telegram]")
    # Nothing wider than the screen: every field can be reached and typed into.
    width = page.evaluate("() => document.querySelector('#alerts').scrollWidth")
    assert width <= 390
    form.locator("input[name=bot_token]").fill(BOT_TOKEN)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "a telegram rule needs the chat" in page.inner_text("[data-error=chat_id]")
    form = page.locator("[data-testid=new-alert-telegram]")
    form.locator("input[name=bot_token]").fill(BOT_TOKEN)
    form.locator("input[name=chat_id]").fill(CHAT_ID)
    form.locator("input[value=daily_digest]").uncheck()
    form.locator("input[value=call]").check()
    form.locator("button[type=submit]").click()
    page.wait_for_url("**notice=alert_added")
    rule = page.locator("[data-testid=alert]")
    assert CHAT_ID in rule.inner_text()
    assert "Every call" in rule.inner_text()
    assert BOT_TOKEN not in page.content()
    [made] = world.live.api.get(f"/api/v1/sites/{sid}/notifications").json()["items"]
    assert made["events"] == ["missed_call", "call"]

    rule.locator("[data-testid=alert-remove] button").click()
    page.wait_for_url("**notice=alert_removed")
    assert "No alerts yet." in page.inner_text("[data-testid=alerts]")
    assert world.live.api.get(f"/api/v1/sites/{sid}/notifications").json()["items"] == []
    tab.assert_quiet()
