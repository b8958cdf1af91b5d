"""Issue #15's "done when": a fresh install driven in Chromium, without the admin API, from the
first-run setup to an attributed call delivered to a CRM.

An empty database and the app as `callsource serve` runs it (the CRM worker in-process). The
marketer sets up the admin account, creates a site, pastes numbers into a pool, connects a
generic PBX and a signed-webhook CRM (a stand-in server here, checking the signature), opens a
page of the site carrying the pasted snippet (served by this test, on an origin among the
site's domains), sees the swapped number, sends the test call from the PBX page, finds it
attributed on Calls and the lead at the CRM; then the PBX's own signed event and the checklist.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import Browser

from pbx_webhooks.providers.generic import sign
from tests.clock import ManualClock
from tests.dashboard.conftest import ADMIN_EMAIL, PASSWORD, Tab
from tests.dashboard.crm_stand_in import Receiver, crm_receiver
from tests.dashboard.live import ADMIN_TOKEN, DESKTOP_CHROME, Live, serve

POOL_PASTED = "8 (495) 111-22-33\n+7 495 111 22 34\n\n84951112235\n"
POOL = {"+74951112233", "+74951112234", "+74951112235"}
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sofa shop</title></head>
<body><h1>Sofas</h1>
<p>Call us: <a data-testid="phone" href="tel:+74950000000">+7 (495) 000-00-00</a></p>
{snippet}
</body></html>
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with crm_receiver() as found:
        yield found


@pytest.fixture
def live(database_url: str, receiver: Receiver) -> Iterator[Live]:
    port = httpx.URL(receiver.url).port
    with serve(
        database_url, ManualClock(), with_worker=True, outbound_allow=f"127.0.0.1:{port}"
    ) as server:
        yield server


class _Shop:
    """The marketer's own site: one page, carrying whatever snippet is pasted into it."""

    def __init__(self) -> None:
        self.html = b""
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(shop.html)))
                self.end_headers()
                self.wfile.write(shop.html)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sofas?utm_source=yandex"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def shop() -> Iterator[_Shop]:
    found = _Shop()
    yield found
    found.close()


def _wait(what: str, check: Callable[[], object], *, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.only_on("sqlite")
def test_a_fresh_install_to_an_attributed_call_at_the_crm_in_the_browser(
    live: Live, tab: Tab, browser: Browser, shop: _Shop, receiver: Receiver
) -> None:
    page = tab.page
    # First run: the empty install asks for the admin token and makes the first account.
    page.goto(live.base + "/")
    assert page.url.endswith("/setup")
    page.fill("input[name=admin_token]", ADMIN_TOKEN)
    page.fill("input[name=email]", ADMIN_EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password_again]", PASSWORD)
    page.click("button[type=submit]")

    # A site, for the domain its pages are on.
    page.click("[data-testid=create-first-site]")
    page.fill("input[name=name]", "Sofa shop")
    page.fill("textarea[name=domains]", "127.0.0.1")
    page.fill("input[name=country]", "RU")
    page.fill("input[name=timezone]", "Europe/Moscow")
    page.click("[data-testid=site-form] button[type=submit]")
    snippet = page.inner_text("[data-testid=snippet]")
    assert f"{live.base}/t/tracker.js" in snippet
    site_url = page.url.split("?")[0]
    site_base = site_url.removesuffix("/site")

    # Numbers pasted into a pool, in the forms people write them.
    page.click("nav.tabs a[href$='/numbers']")
    page.click("[data-testid=new-pool]")
    page.fill("input[name=target_number]", "8 495 000-00-00")
    page.fill("textarea[name=numbers]", POOL_PASTED)
    page.click("[data-testid=pool-form] button[type=submit]")
    assert "3 numbers" in page.inner_text("[data-testid=pool]")

    # A generic PBX: its URL and secret, shown once.
    page.click("nav.tabs a[href$='/integrations']")
    page.click("[data-testid=pbx-setup]")
    page.click("[data-provider=generic] summary")
    page.fill("[data-testid=connect-generic] input[name=name]", "Office Asterisk")
    page.click("[data-testid=connect-generic] button[type=submit]")
    pbx_secret = page.inner_text("[data-testid=secret]")
    hook_url = page.inner_text("[data-testid=webhook-url]")
    assert pbx_secret.startswith("whsec_")
    assert hook_url.startswith(live.base + "/hooks/pbx/")

    # The CRM: a signed webhook to the stand-in, whose secret the receiver is then given.
    page.click("nav.tabs a[href$='/integrations']")
    page.fill("[data-testid=new-crm] input[name=name]", "Our CRM")
    page.fill("[data-testid=new-crm] input[name=url]", receiver.url)
    page.click("[data-testid=new-crm] button[type=submit]")
    receiver.secret = page.inner_text("[data-testid=created-secret] [data-testid=secret]")
    assert receiver.secret.startswith("whsec_")
    assert page.locator("[data-testid=crm]").count() == 1

    # A visitor (a browser of their own) opens a page of the site carrying the snippet.
    shop.html = PAGE.format(snippet=snippet).encode()
    visitor = browser.new_context(user_agent=DESKTOP_CHROME)
    try:
        shop_page = visitor.new_page()
        shop_page.set_default_timeout(15_000)
        shop_page.goto(shop.url)
        phone = shop_page.locator("[data-testid=phone]")
        _wait("the swapped number", lambda: phone.get_attribute("href") != "tel:+74950000000")
        shown = (phone.get_attribute("href") or "").removeprefix("tel:")
        assert shown in POOL, shown
        assert phone.inner_text() != "+7 (495) 000-00-00"
    finally:
        visitor.close()

    # The site's page now says where the snippet is seen.
    tab.go(site_url.removeprefix(live.base))
    assert "Seen on 127.0.0.1" in page.inner_text("[data-testid=snippet-status]")

    # The test call from the PBX page, to the number the visitor saw (at once: the test call
    # begins now, so the visit that opened a moment ago holds its number).
    tab.go(site_base.removeprefix(live.base) + "/pbx")
    page.click("[data-testid=pbx-open]")
    page.fill("[data-testid=test-call] input[name=called]", shown)
    page.fill("[data-testid=test-call] input[name=caller]", "+7 916 555-44-33")
    page.click("[data-testid=test-call] button[type=submit]")
    assert "accepted" in page.inner_text("[data-testid=test-result]")

    # On Calls: attributed to the visit, from its source.
    tab.go(site_base.removeprefix(live.base) + "/calls")
    row = page.locator("[data-testid=calls] tbody tr[data-call]")
    assert row.count() == 1
    assert "dynamic" in row.inner_text()
    assert "yandex" in row.inner_text()

    # The CRM worker delivers the lead, signed; the stand-in checked the signature.
    _wait("the lead at the CRM", lambda: receiver.messages("call.attributed"))
    [lead] = receiver.messages("call.attributed")
    call = lead["data"]["call"]
    assert (call["called"], call["caller"]) == (shown, "+79165554433")
    assert call["attribution"]["method"] == "dynamic"
    assert call["attribution"]["source"] == "yandex"
    assert receiver.refused == []

    # The PBX itself, signing as the PBX page says: its event turns the checklist's step green.
    body = json.dumps(
        {
            "event": "call.ended",
            "call_id": "asterisk-1001",
            "caller": "+79165554433",
            "called": shown,
            "timestamp": live.clock.now.isoformat(),
            "status": "answered",
            "duration": 61,
        }
    ).encode()
    msg_id, stamp = f"msg_{uuid.uuid4().hex}", str(int(live.clock.now.timestamp()))
    answer = live.http.post(
        hook_url,
        content=body,
        headers={
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": stamp,
            "webhook-signature": sign(pbx_secret, msg_id, stamp, body),
        },
    )
    assert answer.status_code == 200, answer.text
    tab.go(site_base.removeprefix(live.base) + "/overview")
    steps = page.locator("[data-testid=onboarding] [data-step]")
    done = {s.get_attribute("data-step"): s.get_attribute("data-done") for s in steps.all()}
    assert done == {"snippet": "yes", "numbers": "yes", "pbx": "yes", "crm": "yes", "costs": "no"}
    tab.assert_quiet()
