"""In Chromium: working a call on its page. The admin plays the recording (served by a stand-in
of the PBX's recording store), sets the lead's status, tags the call, writes a note and sets
the deal by hand; the Calls list filters by the tag."""

from __future__ import annotations

import io
import os
import threading
import uuid
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.dashboard.conftest import ADMIN_EMAIL, Tab
from tests.dashboard.live import Live
from tests.dashboard.world import OFFLINE_NUMBER, World


def _wav(seconds: float = 1.5, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


@contextmanager
def recordings() -> Iterator[str]:
    """A recording store on loopback, as a PBX's (Asterisk's, say) would be: GET one WAV."""
    body = _wav()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/rec-1.wav":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/rec-1.wav"
    finally:
        server.shutdown()
        server.server_close()


def test_an_admin_works_a_call_on_its_page(live: Live, admin: uuid.UUID, tab: Tab) -> None:
    world = World(live).build_site()
    sid = world.site["id"]
    with recordings() as recording_url:
        call = world.call("lead", OFFLINE_NUMBER)
        other = world.call("other", OFFLINE_NUMBER)
        # The PBX's later event carries where its recording is kept.
        world.hook(
            {
                "event": "call.ended",
                "call_id": call["provider_call_id"],
                "caller": call["caller"],
                "called": OFFLINE_NUMBER,
                "timestamp": live.clock.now.isoformat(),
                "status": "answered",
                "duration": call["duration"],
                "recording_url": recording_url,
            }
        )
        tab.sign_in()
        page = tab.go(f"/sites/{sid}/calls/{call['id']}")

        # The recording's player loads it: the page's policy lets media come from the PBX.
        player = page.locator("[data-testid=recording-player]")
        assert player.get_attribute("src") == recording_url
        page.wait_for_function(
            "document.querySelector('[data-testid=recording-player]').readyState >= 1"
        )
        length = page.evaluate("document.querySelector('[data-testid=recording-player]').duration")
        assert 1.4 < length < 1.6

        page.select_option("[data-testid=lead-status-form] select[name=status]", "qualified")
        page.click("[data-testid=lead-status-form] button[type=submit]")
        page.wait_for_url("**notice=status-saved")
        assert page.inner_text("[data-testid=lead-status]") == "Qualified"

        page.fill("[data-testid=tags-form] input[name=tags]", "Wholesale, repeat order")
        page.click("[data-testid=tags-form] button[type=submit]")
        page.wait_for_url("**notice=tags-saved")
        tags = page.eval_on_selector_all(
            "[data-testid=tags] a", "links => links.map(a => a.textContent)"
        )
        assert tags == ["repeat order", "wholesale"]

        page.fill("[data-testid=note-form] textarea[name=note]", "Wants 12 sofas for a hotel.")
        page.click("[data-testid=note-form] button[type=submit]")
        page.wait_for_url("**notice=note-added")
        note = page.inner_text("[data-testid=note]")
        assert ADMIN_EMAIL in note
        assert "Wants 12 sofas for a hotel." in note

        form = page.locator("[data-testid=deal-form]")
        assert form.locator("input[name=currency]").input_value() == "RUB"  # the site's own
        form.locator("input[name=revenue]").fill("abc")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert "is not an amount" in page.inner_text("[data-error=revenue]")
        form.locator("input[name=status][value=won]").check()
        form.locator("input[name=revenue]").fill("240 000")
        form.locator("button[type=submit]").click()
        page.wait_for_url("**notice=deal-saved")
        # English (the tab's language): Babel writes the sum with its currency code first.
        assert "RUB240,000.00" in page.inner_text("[data-testid=manual-deal-now]")

        # The tag links to the Calls list filtered by it.
        page.click("[data-testid=tags] a:text('wholesale')")
        page.wait_for_url("**/calls?tag=wholesale")
        rows = page.eval_on_selector_all(
            "[data-testid=calls] tr[data-call]", "rows => rows.map(r => r.dataset.call)"
        )
        assert rows == [call["id"]]
        assert other["id"] not in rows
        assert "Qualified" in page.inner_text(f"tr[data-call='{call['id']}'] [data-testid=lead]")

        # The deal counts in the sources report.
        report = live.api.get(f"/api/v1/sites/{sid}/reports/sources").json()["rows"]
        assert sum(float(r["revenue"] or 0) for r in report) == 240000.0

        # At phone width the page fits: nothing runs off to the side.
        page.set_viewport_size({"width": 390, "height": 844})
        tab.go(f"/sites/{sid}/calls/{call['id']}")
        if os.environ.get("CALL_PAGE_SHOT"):
            page.screenshot(path=os.environ["CALL_PAGE_SHOT"], full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        box = page.locator("[data-testid=note-form] textarea").bounding_box()
        assert box is not None
        assert box["width"] > 250
        tab.assert_quiet()
