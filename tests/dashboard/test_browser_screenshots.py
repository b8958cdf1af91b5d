"""Screenshots of the main pages, as the README shows them.

They are always taken (so the pages are drawn by a real browser on every run); they replace
the files under docs/screenshots/ only with UPDATE_SCREENSHOTS=1, so a test run leaves the
repository as it was.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.demo.seed import ensure_demo_site
from tests.dashboard.conftest import Tab
from tests.dashboard.world import DAYS, World

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


# The same pictures taken on PostgreSQL would add nothing.
@pytest.mark.only_on("sqlite")
def test_screenshots_of_the_main_pages(
    world: World, admin: uuid.UUID, tab: Tab, tmp_path: Path, database_url: str
) -> None:
    assert world.first_day is not None
    first, last = world.first_day, world.first_day + timedelta(days=DAYS - 1)
    week = f"from={first}&to={last}"
    live = world.live

    async def demo(db: AsyncSession) -> None:
        await ensure_demo_site(db, now=live.clock.now, public_url=live.base)

    live.db(demo)
    tab.sign_in()
    sid = world.site["id"]
    shots = {
        "overview": f"/sites/{sid}/overview?{week}",
        "sources": f"/sites/{sid}/sources?{week}&group_by=campaign",
        "calls": f"/sites/{sid}/calls",
        "call": f"/sites/{sid}/calls/{world.calls['returning-5']['id']}",
        "numbers": f"/sites/{sid}/numbers",
        "integrations": f"/sites/{sid}/integrations",
        "costs": f"/sites/{sid}/costs?{week}",
        "demo": "/demo/?utm_source=yandex&utm_medium=cpc&utm_campaign=sofas",
    }
    for name, path in shots.items():
        tab.go(path)
        if name == "demo":
            tab.page.wait_for_selector("html[data-shown-number]")
        tab.page.screenshot(path=tmp_path / f"{name}.png", full_page=True)
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    # The overview on a phone (390 px wide, 2x pixels): the layout the phone-width test measures.
    tab.page.set_viewport_size({"width": 390, "height": 844})
    tab.go(shots["overview"])
    tab.page.screenshot(path=tmp_path / "overview-phone.png", full_page=True)
    shots["overview-phone"] = shots["overview"]
    tab.assert_quiet()
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for name in shots:
            shutil.copy(tmp_path / f"{name}.png", DOCS / f"{name}.png")
