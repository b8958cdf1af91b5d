"""The report pages against the database: the sources table, the overview's totals and its
chart's bars hold the figures computed straight from the tables."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from app.dashboard.analytics import source_label
from tests.dashboard import expected
from tests.dashboard.conftest import Tab
from tests.dashboard.reading import close, table, value
from tests.dashboard.world import DAYS, World

COUNTS = ("sessions", "calls", "first_time_calls", "answered", "missed", "leads", "deals_won")
MONEY = ("revenue", "cost", "cost_per_call")


def _period(world: World) -> tuple[date, date]:
    assert world.first_day is not None
    return world.first_day, world.first_day + timedelta(days=DAYS - 1)


def _row_key(key: tuple[str | None, ...]) -> str:
    return "|".join(v or "" for v in (*key, None, None, None, None)[:4])


@pytest.mark.parametrize("level", ["source", "campaign", "term"])
def test_sources_report_equals_the_database(
    world: World, admin: uuid.UUID, tab: Tab, level: str
) -> None:
    first, last = _period(world)
    site_id = uuid.UUID(world.site["id"])
    want = world.live.db(
        lambda db: expected.report(db, site_id=site_id, first=first, last=last, level=level)
    )
    tab.sign_in()
    tab.go(f"/sites/{site_id}/sources?from={first}&to={last}&group_by={level}")

    shown = table(tab.page, "[data-testid=sources-report] tbody")
    assert set(shown) == {_row_key(k) for k in want}
    for key, row in want.items():
        cells = shown[_row_key(key)]
        for column in COUNTS:
            assert close(value(cells[column]), getattr(row, column), 2), (key, column)
        for column in MONEY:
            assert close(value(cells[column]), getattr(row, column), 2), (key, column)
        assert close(value(cells["romi"]), row.romi, 2), (key, "romi")
    # The yandex campaign paid off; vk did not.
    if level == "campaign":
        assert value(shown["yandex|cpc|sofas|"]["romi"]) == pytest.approx(
            want[("yandex", "cpc", "sofas")].romi, abs=0.005
        )
        assert value(shown["vk|social|autumn|"]["romi"]) == -1.0
    tab.assert_quiet()


def test_the_attribution_model_switch(world: World, admin: uuid.UUID, tab: Tab) -> None:
    """The returning visitor (a Yandex ad on day 1, a direct visit and a call on day 5): last
    non-direct and first touch give Yandex the call; linear splits it half and half."""
    first, last = _period(world)
    sid = world.site["id"]
    tab.sign_in()
    tab.go(f"/sites/{sid}/sources?from={first}&to={last}")
    page = tab.page

    def direct_calls() -> str:
        return table(page, "[data-testid=sources-report] tbody")["(direct)|||"]["calls"]

    assert direct_calls() == "0"
    yandex_calls = value(table(page, "[data-testid=sources-report] tbody")["yandex|||"]["calls"])
    page.select_option("select[name=model]", "linear")
    page.click("[data-testid=report-form] button[type=submit]")
    page.wait_for_url("**model=linear**")
    assert direct_calls() == "0.50"
    linear_yandex = value(table(page, "[data-testid=sources-report] tbody")["yandex|||"]["calls"])
    assert linear_yandex == pytest.approx((yandex_calls or 0) - 0.5)
    page.select_option("select[name=model]", "first_touch")
    page.click("[data-testid=report-form] button[type=submit]")
    page.wait_for_url("**model=first_touch**")
    assert direct_calls() == "0"
    assert page.locator("select[name=model]").input_value() == "first_touch"
    tab.assert_quiet()


def test_overview_totals_and_chart_hold_the_database(
    world: World, admin: uuid.UUID, tab: Tab
) -> None:
    first, last = _period(world)
    site_id = uuid.UUID(world.site["id"])
    rows = world.live.db(
        lambda db: expected.report(db, site_id=site_id, first=first, last=last, level="source")
    )
    per_day = world.live.db(
        lambda db: expected.calls_by_day(db, site_id=site_id, first=first, last=last)
    )
    tab.sign_in()
    tab.go(f"/sites/{site_id}/overview?from={first}&to={last}")
    page = tab.page

    figures = dict(
        page.eval_on_selector_all(
            "[data-figure]",
            "els => els.map(e => [e.dataset.figure, e.querySelector('.value').textContent])",
        )
    )
    total_calls = sum(r.calls for r in rows.values())
    revenue = sum(r.revenue for r in rows.values())
    cost = sum(r.cost or 0 for r in rows.values())
    assert value(figures["calls"]) == total_calls
    assert value(figures["sessions"]) == sum(r.sessions for r in rows.values())
    assert value(figures["missed"]) == sum(r.missed for r in rows.values())
    assert value(figures["first_time_calls"]) == sum(r.first_time_calls for r in rows.values())
    assert value(figures["leads"]) == sum(r.leads for r in rows.values())
    assert value(figures["deals_won"]) == sum(r.deals_won for r in rows.values())
    assert value(figures["revenue"]) == revenue
    assert value(figures["cost"]) == cost
    assert value(figures["romi"]) == pytest.approx((revenue - cost) / cost, abs=0.005)

    bars = page.eval_on_selector_all(
        "svg[data-chart] rect.seg",
        "rs => rs.map(r => [r.dataset.day, r.dataset.series, Number(r.dataset.value)])",
    )
    drawn = {(day, series): count for day, series, count in bars}
    # The chart names the two kinds of "no source" in words ("(direct)" and "(none)" look alike).
    assert drawn == {(day, source_label(source)): n for (day, source), n in per_day.items()}
    assert sum(drawn.values()) == total_calls
    # Each bar carries its own tooltip.
    first_bar = page.locator("svg[data-chart] rect.seg").first
    assert first_bar.locator("title").text_content()
    tab.assert_quiet()
