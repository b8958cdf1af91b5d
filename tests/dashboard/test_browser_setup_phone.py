"""The setup pages at a phone's width (390 px, Chromium): nothing wider than the screen, so
a marketer can set up from a phone without scrolling sideways."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import ViewportSize

from tests.dashboard.conftest import Tab
from tests.dashboard.world import World

PHONE = ViewportSize(width=390, height=844)


@pytest.mark.only_on("sqlite")
def test_the_setup_pages_fit_a_phone(world: World, admin: uuid.UUID, tab: Tab) -> None:
    live = world.live
    sid = world.site["id"]
    pool_id = live.api.get(f"/api/v1/sites/{sid}/pools").json()["items"][0]["id"]
    statics = live.api.get(f"/api/v1/sites/{sid}/static-numbers").json()["items"]
    tab.page.set_viewport_size(PHONE)
    tab.sign_in()
    paths = [
        f"/sites/{sid}/site",
        f"/sites/{sid}/numbers",
        f"/sites/{sid}/pools/new?visits=300&per=day",
        f"/sites/{sid}/pools/{pool_id}/edit",
        f"/sites/{sid}/static-numbers/new",
        f"/sites/{sid}/static-numbers/{statics[0]['id']}/edit",
        f"/sites/{sid}/pbx",
        f"/sites/{sid}/pbx/{world.pbx['id']}",
        f"/sites/{sid}/integrations",
        f"/sites/{sid}/overview",
        "/sites/new",
    ]
    wide: dict[str, int] = {}
    for path in paths:
        tab.go(path)
        width = tab.page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wide[path] = width
    assert wide == {}
    tab.assert_quiet()
