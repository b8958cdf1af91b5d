"""The demo, end to end in Chromium: the shop page with the snippet, an arrival from an ad or a
search engine, a test call sent as a signed PBX webhook, the call attributed in the dashboard,
the lead in the demo CRM inbox through the webhook connector, and the deal coming back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, Route
from sqlalchemy.ext.asyncio import AsyncSession

from app.demo.seed import DEMO_POOL, ensure_demo_site
from app.kit.phones import to_e164
from tests.clock import ManualClock
from tests.dashboard.conftest import Tab
from tests.dashboard.live import Live, serve

POOL = {to_e164(n, "RU", field="n") for n in DEMO_POOL}


def _demo(live: Live) -> uuid.UUID:
    async def create(db: AsyncSession) -> uuid.UUID:
        site, _created = await ensure_demo_site(db, now=live.clock.now, public_url=live.base)
        return site.id

    return live.db(create)


@pytest.fixture
def live(database_url: str) -> Iterator[Live]:
    """The app as `callsource demo` runs it: with the CRM worker in the same process."""
    with serve(database_url, ManualClock(), with_worker=True) as server:
        yield server


def _wait_for_lead(page: Page, base: str, call_id: uuid.UUID) -> Locator:
    """The worker polls the outbox about once a second: reload until the lead is in."""
    lead = page.locator(f"[data-testid=leads] tr[data-call='{call_id}']")
    deadline = time.monotonic() + 20
    while True:
        page.goto(base + "/demo/crm-inbox")
        if lead.count() or time.monotonic() > deadline:
            return lead
        page.wait_for_timeout(500)


def test_from_the_shop_page_to_the_crm_inbox(live: Live, admin: uuid.UUID, tab: Tab) -> None:
    site_id = _demo(live)
    tab.sign_in()
    page = tab.page
    tab.go("/demo")
    snippet = page.inner_text("[data-testid=snippet]")
    assert f"{live.base}/t/tracker.js" in snippet
    assert "data-site=" in snippet

    # Arrive from the Yandex ad, in a tab of its own.
    with tab.context.expect_page() as opened:
        page.click("text=Yandex Direct ad")
    shop = opened.value
    shop.wait_for_selector("html[data-shown-number]")
    shown = shop.get_attribute("html", "data-shown-number")
    assert shown in POOL
    assert shop.input_value("#called") == shown
    # The snippet swapped the number in the page itself, as written there.
    assert "+7 (495) 123-45-67" not in shop.inner_text("header")

    shop.click("[data-testid=test-call] button[type=submit]")
    shop.wait_for_selector("[data-testid=called]")
    assert shop.inner_text("[data-testid=attributed]") == "yandex / cpc / sofas"

    shop.click("[data-testid=dashboard-link]")
    shop.wait_for_selector("[data-testid=attribution]")
    assert "yandex / cpc / sofas" in shop.inner_text("[data-testid=channel]")
    assert "dynamic" in shop.inner_text("[data-testid=attribution]")
    assert "yandex / cpc" in shop.inner_text("[data-testid=journey]")
    call_id = uuid.UUID(shop.url.rsplit("/", 1)[1])

    # The worker sends the lead to the demo CRM inbox, signed.
    lead = _wait_for_lead(shop, live.base, call_id)
    assert "yandex / cpc / sofas" in lead.inner_text()
    assert "verified" in lead.inner_text()

    # The CRM closes the deal and reports it back; the dashboard shows it on the call.
    lead.locator("button[type=submit]").click()
    shop.wait_for_url("**notice=deal")
    shop.goto(f"{live.base}/sites/{site_id}/calls/{call_id}")
    assert "won" in shop.inner_text("[data-testid=deals]")
    assert "RUB45,000.00" in shop.inner_text("[data-testid=deals]")
    assert "sent" in shop.inner_text("[data-testid=deliveries]")
    tab.assert_quiet()


def test_an_arrival_from_google_search(live: Live, tab: Tab) -> None:
    """The google link passes through a redirect that plays a google.com referrer back to the
    snippet; the call is organic search."""
    _demo(live)
    page = tab.page
    page.goto(live.base + "/demo/from/google")
    page.wait_for_selector("html[data-shown-number]")
    assert page.url == live.base + "/demo/"  # the fragment is gone once read
    page.click("[data-testid=test-call] button[type=submit]")
    page.wait_for_selector("[data-testid=called]")
    assert page.inner_text("[data-testid=attributed]") == "google / organic"
    tab.assert_quiet()


def test_the_crm_inbox_refuses_unsigned_leads(live: Live) -> None:
    _demo(live)
    response = live.http.post(
        "/demo/crm-inbox/hook",
        json={"type": "call.attributed", "data": {"call": {"id": "x"}}},
        headers={"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "v1,AA"},
    )
    assert response.status_code == 401
    assert "webhook-timestamp" in response.json()["detail"]


def test_no_demo_where_there_is_no_demo_site(live: Live) -> None:
    assert live.http.get("/demo").status_code == 404
    assert live.http.post("/demo/crm-inbox/hook", content=b"{}").status_code == 404


def test_a_headless_browser_is_told_it_reads_as_a_crawler(live: Live, browser: Browser) -> None:
    """Headless Chromium's own user agent: the shop page says at once that no tracking number
    is coming, and the snippet's answer (marked bot) confirms it, instead of a page that waits."""
    _demo(live)
    context = browser.new_context()  # no user agent of ours: "HeadlessChrome"
    try:
        page = context.new_page()
        page.goto(live.base + "/demo")
        assert "HeadlessChrome" in page.evaluate("navigator.userAgent")
        note = page.locator("[data-testid=bot-note]")
        assert note.is_visible()
        assert "treated as a crawler" in note.inner_text()
        page.wait_for_selector("html[data-tracker=bot]")
        assert page.get_attribute("script[data-site]", "data-bot") == "1"
        assert page.inner_text("#shown-kind") == "crawler: no tracking number"
        assert page.input_value("#called") == "+74951234567"
    finally:
        context.close()


def test_the_snippet_marker_alone_reveals_the_note(live: Live, tab: Tab) -> None:
    """A desktop browser's page, but the snippet's request goes out as a crawler's: the page
    learns it from the answer's marker (the server-side check did not see it)."""
    _demo(live)
    page = tab.page

    def as_crawler(route: Route) -> None:
        headers = {**route.request.headers, "user-agent": "Googlebot/2.1"}
        route.continue_(headers=headers)

    page.route("**/t/*/sessions", as_crawler)
    tab.go("/demo")
    note = page.locator("[data-testid=bot-note]")
    page.wait_for_selector("html[data-tracker]")
    assert page.get_attribute("html", "data-tracker") == "bot"
    assert note.is_visible()


def test_an_ordinary_browser_sees_no_crawler_note(live: Live, tab: Tab) -> None:
    _demo(live)
    tab.go("/demo")
    tab.page.wait_for_selector("html[data-tracker=tracked]")
    assert not tab.page.locator("[data-testid=bot-note]").is_visible()
    assert tab.page.get_attribute("html", "data-shown-number") in POOL
    tab.assert_quiet()
