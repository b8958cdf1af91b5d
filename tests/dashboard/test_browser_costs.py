"""Ad costs in the browser: a file with bad rows is refused whole, row by row; a good one is
previewed, then imported."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

from playwright.sync_api import FilePayload
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AdCost
from tests.dashboard.conftest import Tab
from tests.dashboard.world import World


def _costs(world: World) -> dict[tuple[date, str], Decimal]:
    site_id = uuid.UUID(world.site["id"])

    async def read(db: AsyncSession) -> dict[tuple[date, str], Decimal]:
        rows = (await db.execute(select(AdCost).where(AdCost.site_id == site_id))).scalars()
        return {(row.day, row.source): row.cost for row in rows}

    return world.live.db(read)


def test_a_bad_row_is_named_and_nothing_is_kept_then_the_fixed_file_imports(
    world: World, admin: uuid.UUID, tab: Tab
) -> None:
    assert world.first_day is not None
    day1, day2 = world.first_day, world.first_day + timedelta(days=1)
    before = _costs(world)
    bad = (
        "date,source,medium,campaign,cost,currency\n"
        f"{day1},yandex,cpc,sofas,1200.50,RUB\n"
        f"{day2},yandex,cpc,sofas,12O0,RUB\n"
        "2026-13-01,google,cpc,,300,RUB\n"
    )
    tab.sign_in()
    tab.go(f"/sites/{world.site['id']}/costs")
    page = tab.page
    page.set_input_files(
        "input[name=file]",
        files=FilePayload(name="costs.csv", mimeType="text/csv", buffer=bad.encode()),
    )
    page.click("[data-testid=upload] button[type=submit]")
    errors = page.locator("[data-testid=upload-errors]")
    errors.wait_for()
    problems = page.eval_on_selector_all(
        "[data-testid=upload-errors] tbody tr",
        "rows => rows.map(r => [...r.children].map(c => c.textContent.trim()))",
    )
    assert [(row, column) for row, column, _message in problems] == [("3", "cost"), ("4", "date")]
    assert page.locator("[data-testid=preview]").count() == 0
    assert _costs(world) == before

    # Fix the two rows in the text the page kept, and try again.
    fixed = bad.replace("12O0", "1250").replace("2026-13-01", str(day2))
    page.fill("textarea[name=pasted]", fixed)
    page.click("[data-testid=upload] button[type=submit]")
    preview = page.locator("[data-testid=preview]")
    preview.wait_for()
    assert "3 rows, 1 new, 2 replacing stored ones" in preview.inner_text()
    assert _costs(world) == before  # a preview stores nothing

    page.click("[data-testid=import]")
    page.wait_for_url("**/costs?imported=3")
    assert "3 cost rows imported." in page.inner_text("main")
    after = _costs(world)
    assert after[(day1, "yandex")] == Decimal("1200.50")
    assert after[(day2, "yandex")] == Decimal("1250.00")
    assert after[(day2, "google")] == Decimal("300.00")
    assert "1,200.50" in page.inner_text("[data-testid=stored-costs]")
    tab.assert_quiet()
