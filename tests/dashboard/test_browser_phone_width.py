"""Every dashboard page at a phone's width (390 x 844, an iPhone 12-15): nothing scrolls the
page sideways, no phone number breaks across lines, charts keep readable labels and long
landing URLs stay inside their card. Real Chromium, over a week of real data."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize
from sqlalchemy.ext.asyncio import AsyncSession

from app.demo.seed import ensure_demo_site
from tests.dashboard.conftest import Tab, create_user
from tests.dashboard.world import SHOP, World

PHONE: ViewportSize = {"width": 390, "height": 844}
# A landing page as ad platforms write them: one word, hundreds of characters, no space.
LONG_URL = (
    SHOP
    + "?utm_source=yandex&utm_medium=cpc&utm_campaign=sofas_"
    + "corner_sofa_moscow_delivery_tomorrow_" * 6
    + "&utm_content=ad-7301&yclid=73011234567890123456789"
)

MEASURE = """() => {
  const tels = [...document.querySelectorAll('.tel')];
  const texts = [...document.querySelectorAll('svg.chart .axis text')];
  return {
    scrollWidth: document.scrollingElement.scrollWidth,
    innerWidth: window.innerWidth,
    tels: tels.length,
    brokenTels: tels.filter(t => t.getClientRects().length > 1).map(t => t.textContent),
    // The smallest chart label as drawn, in CSS pixels.
    smallestLabel: Math.min(...texts.map(t => t.getBoundingClientRect().height)),
    // Anything whose right edge lies past the viewport and is not inside a scrolling box.
    outside: [...document.querySelectorAll('main *, header *, nav *')].filter(el => {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= window.innerWidth + 0.5) return false;
      for (let p = el.parentElement; p; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o === 'auto' || o === 'scroll' || o === 'hidden') return false;
      }
      return true;
    }).slice(0, 5).map(el => el.tagName + '.' + el.className + ': ' + el.textContent.slice(0, 60)),
  };
}"""


def measure(page: Page, path: str) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(MEASURE)
    assert found["scrollWidth"] <= found["innerWidth"], (path, found)
    assert found["outside"] == [], (path, found["outside"])
    assert found["brokenTels"] == [], (path, found["brokenTels"])
    return found


def phone_tab(tab_factory: Callable[[], Tab]) -> Tab:
    tab = tab_factory()
    tab.page.set_viewport_size(PHONE)
    return tab


def test_every_page_fits_a_phone(world: World, tab_factory: Callable[[], Tab]) -> None:
    live = world.live
    sid = world.site["id"]
    # A call from a visit whose landing URL is one very long word.
    long_call = world.call("long-url", world.dialled(world.visit(LONG_URL)), duration=40)

    async def demo(db: AsyncSession) -> None:
        await ensure_demo_site(db, now=live.clock.now, public_url=live.base)

    live.db(demo)
    fresh = world.create_site("A site just added")  # its overview shows the onboarding list

    anonymous = phone_tab(tab_factory)
    for path in ("/setup", "/demo"):
        anonymous.go(path)
        measure(anonymous.page, path)
    create_user(live)
    anonymous.go("/login")
    measure(anonymous.page, "/login")

    tab = phone_tab(tab_factory).sign_in()
    pages = [
        f"/sites/{sid}/overview",
        f"/sites/{sid}/sources?group_by=term",
        f"/sites/{sid}/calls",
        f"/sites/{sid}/calls/{world.calls['returning-5']['id']}",
        f"/sites/{sid}/calls/{long_call['id']}",
        f"/sites/{sid}/costs",
        f"/sites/{sid}/integrations",
        f"/sites/{sid}/numbers",
        f"/sites/{sid}/numbers/offline/print",
        f"/sites/{sid}/pools/new",
        f"/sites/{sid}/static-numbers/new",
        f"/sites/{sid}/site",
        f"/sites/{sid}/pbx",
        f"/sites/{sid}/pbx/{world.pbx['id']}",
        f"/sites/{fresh['id']}/overview",
        "/sites/new",
        "/users",
        "/account",
        "/demo",
        "/demo/crm-inbox",
    ]
    figures = {}
    for path in pages:
        tab.go(path)
        figures[path] = measure(tab.page, path)

    overview = figures[f"/sites/{sid}/overview"]
    assert overview["tels"] > 0  # the latest calls' callers
    assert figures[f"/sites/{sid}/calls"]["tels"] >= 2 * len(world.calls) - 2
    # The chart keeps its labels at a size people read (it scrolls inside its card instead).
    assert overview["smallestLabel"] >= 9, overview
    assert figures[f"/sites/{sid}/numbers"]["smallestLabel"] >= 9
    # The fresh site's overview is the onboarding checklist.
    tab.go(f"/sites/{fresh['id']}/overview")
    assert tab.page.locator("[data-testid=onboarding]").count() == 1
    # The long landing URL is on the call's page, wrapped inside its card.
    tab.go(f"/sites/{sid}/calls/{long_call['id']}")
    card = tab.page.locator("[data-testid=attribution]")
    assert "corner_sofa_moscow" in card.inner_text()
    box = card.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= PHONE["width"]
    # The header's tabs wrap rather than run off: every tab is on screen.
    for link in tab.page.locator("nav.tabs a").all():
        tab_box = link.bounding_box()
        assert tab_box is not None
        assert tab_box["x"] + tab_box["width"] <= PHONE["width"], link.inner_text()
    tab.assert_quiet()
    anonymous.assert_quiet()


def test_the_phone_check_fails_on_a_page_that_scrolls_sideways(
    world: World, admin: uuid.UUID, tab_factory: Callable[[], Tab]
) -> None:
    """The measure is not blind: a page made too wide, or a number forced to wrap, fails it."""
    tab = phone_tab(tab_factory).sign_in()
    path = f"/sites/{world.site['id']}/calls"
    tab.go(path)
    # Styles through the CSSOM: the dashboard's CSP refuses inline style attributes and tags.
    tab.page.evaluate(
        """() => {
          const wide = document.createElement('div');
          wide.style.width = '800px';
          wide.textContent = 'wide';
          document.querySelector('main').append(wide);
        }"""
    )
    with pytest.raises(AssertionError, match="scrollWidth"):
        measure(tab.page, path)
    tab.go(path)
    # A number in a box too narrow for it, with the no-wrap rule taken away, breaks: seen.
    tab.page.evaluate(
        """() => {
          const box = document.createElement('div');
          box.style.width = '30px';
          const tel = document.querySelector('.tel').cloneNode(true);
          tel.style.whiteSpace = 'normal';
          box.appendChild(tel);
          document.querySelector('main').prepend(box);
        }"""
    )
    found = tab.page.evaluate(MEASURE)
    assert found["brokenTels"], found
