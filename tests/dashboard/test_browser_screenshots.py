"""Screenshots of the main pages, as the README shows them.

They are always taken (so the pages are drawn by a real browser on every run); they replace
the files under docs/screenshots/ only with UPDATE_SCREENSHOTS=1, so a test run leaves the
repository as it was.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.demo.seed import DEMO_INBOX_PATH, ensure_demo_site
from tests.dashboard.conftest import Tab
from tests.dashboard.world import DAYS, World

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


# The same pictures taken on PostgreSQL would add nothing.
@pytest.mark.only_on("sqlite")
def test_screenshots_of_the_main_pages(
    world: World,
    admin: uuid.UUID,
    tab: Tab,
    tab_factory: Callable[..., Tab],
    tmp_path: Path,
    database_url: str,
) -> None:
    assert world.first_day is not None
    first, last = world.first_day, world.first_day + timedelta(days=DAYS - 1)
    week = f"from={first}&to={last}"
    live = world.live

    async def demo(db: AsyncSession) -> None:
        await ensure_demo_site(db, now=live.clock.now, public_url=live.base)

    live.db(demo)
    # A new site with nothing set up yet: its Overview is the onboarding checklist.
    fresh = live.api.post(
        "/api/v1/sites",
        json={"name": "Garden shop", "domains": ["garden.example"], "country": "RU"},
    ).json()
    # A page on a domain the site does not list: the Site tab names it.
    refused = live.http.post(
        f"/t/{world.site['public_key']}/sessions",
        content='{"url": "https://old-shop.example/"}',
        headers={"Content-Type": "text/plain", "Origin": "https://old-shop.example"},
    )
    assert refused.status_code == 403
    tab.sign_in()
    sid = world.site["id"]
    # A CRM connected (to the demo's inbox, the one loopback address the server may reach).
    crm = live.api.post(
        f"/api/v1/sites/{sid}/crm",
        json={"kind": "webhook", "name": "Our CRM", "url": live.base + DEMO_INBOX_PATH},
    )
    assert crm.status_code == 201, crm.text
    pool_id = live.api.get(f"/api/v1/sites/{sid}/pools").json()["items"][0]["id"]
    shots = {
        "overview": f"/sites/{sid}/overview?{week}",
        "sources": f"/sites/{sid}/sources?{week}&group_by=campaign",
        "calls": f"/sites/{sid}/calls",
        "call": f"/sites/{sid}/calls/{world.calls['returning-5']['id']}",
        "numbers": f"/sites/{sid}/numbers",
        "integrations": f"/sites/{sid}/integrations",
        "costs": f"/sites/{sid}/costs?{week}",
        "demo": "/demo/?utm_source=yandex&utm_medium=cpc&utm_campaign=sofas",
        # The setup pages (issue #15).
        "site": f"/sites/{sid}/site",
        "pool": f"/sites/{sid}/pools/new?visits=400&per=day",
        "pool-edit": f"/sites/{sid}/pools/{pool_id}/edit",
        "pbx": f"/sites/{sid}/pbx/{world.pbx['id']}",
        "crm": f"/sites/{sid}/integrations",
        "onboarding": f"/sites/{fresh['id']}/overview",
    }
    for name, path in shots.items():
        tab.go(path)
        if name == "demo":
            tab.page.wait_for_selector("html[data-shown-number]")
        if name == "crm":
            tab.page.click("details[data-crm=amocrm] summary")
        tab.page.screenshot(path=tmp_path / f"{name}.png", full_page=True)
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    # The overview on a phone (390 px wide, 2x pixels): the layout the phone-width test measures.
    tab.page.set_viewport_size({"width": 390, "height": 844})
    tab.go(shots["overview"])
    tab.page.screenshot(path=tmp_path / "overview-phone.png", full_page=True)
    shots["overview-phone"] = shots["overview"]
    tab.assert_quiet()
    # The same pages as a Russian-speaking marketer sees them.
    russian = tab_factory("ru-RU").sign_in()
    for name, path in {"overview-ru": shots["overview"], "sources-ru": shots["sources"]}.items():
        russian.go(path)
        russian.page.screenshot(path=tmp_path / f"{name}.png", full_page=True)
        shots[name] = path
    russian.assert_quiet()
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for name in shots:
            shutil.copy(tmp_path / f"{name}.png", DOCS / f"{name}.png")
