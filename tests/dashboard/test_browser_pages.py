"""Every page, signed in, in real Chromium, over a week of real data."""

from __future__ import annotations

import uuid

from tests.dashboard.conftest import Tab
from tests.dashboard.reading import value
from tests.dashboard.world import POOL, World


def test_every_page_renders_with_data(world: World, admin: uuid.UUID, tab: Tab) -> None:
    tab.sign_in()
    sid = world.site["id"]
    page = tab.page
    assert page.url.endswith(f"/sites/{sid}/overview")
    for path, expect in [
        (f"/sites/{sid}/overview", "Calls per day by source"),
        (f"/sites/{sid}/sources", "yandex"),
        (f"/sites/{sid}/calls", "metro-flyers"),
        (f"/sites/{sid}/calls/{world.calls['returning-5']['id']}", "The visitor's journey"),
        (f"/sites/{sid}/numbers", "Recommended size"),
        (f"/sites/{sid}/numbers/offline/print", "+7 495 111-02-01"),
        (f"/sites/{sid}/integrations", "/hooks/pbx/"),
        (f"/sites/{sid}/costs", "1,500.00"),
        ("/users", "admin@shop.example"),
        ("/account", "Change your password"),
    ]:
        tab.go(path)
        text = page.inner_text("main")
        assert expect in text or expect.replace(" ", "\u202f") in text, path
    tab.assert_quiet()


def test_the_pool_chart_draws_the_last_day(world: World, admin: uuid.UUID, tab: Tab) -> None:
    """48 half hours of use against the pool's size; the burst of the last day shows as its
    peak and as sessions that found the pool full."""
    tab.sign_in()
    tab.go(f"/sites/{world.site['id']}/numbers")
    page = tab.page
    points = page.eval_on_selector_all(
        "svg[data-chart=pool] circle.pt", "cs => cs.map(c => Number(c.dataset.value))"
    )
    assert len(points) == 48
    figures = dict(
        page.eval_on_selector_all(
            "[data-testid=pool] [data-figure]",
            "els => els.map(e => [e.dataset.figure, e.querySelector('.value').textContent])",
        )
    )
    assert max(points) == int(figures["peak_in_use"]) == len(POOL)
    assert page.get_attribute("svg[data-chart=pool] line[data-size]", "data-size") == "3"
    shares = page.eval_on_selector_all(
        "svg[data-chart=pool] rect[data-share]", "rs => rs.map(r => Number(r.dataset.share))"
    )
    assert shares
    assert all(0 < share <= 1 for share in shares)
    assert (value(figures["fallback_share"]) or 0) > 0
    assert int(figures["recommended_size"]) > len(POOL)
    assert "add" in page.inner_text("[data-testid=advice]")
    tab.assert_quiet()
