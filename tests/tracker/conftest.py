"""Browser fixtures for static/tracker.js: real Chromium, a local HTTP server, a fake Tracker API.

The pages under ``pages/`` and the snippet itself (minified exactly as the app serves it) are
served by a small threaded ``http.server`` on 127.0.0.1; the Tracker API (``/t/{site}/...``) is
intercepted with ``page.route()`` and answered with canned JSON, recording every request so tests
can assert on the bodies (Plausible tests its tracker the same way). test_live_api.py runs the
snippet against the real app instead.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final, Literal

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Route,
)

from app.tracking.snippet import build_snippet
from tests.browser import launch_chromium

ROOT = Path(__file__).resolve().parents[2]
TRACKER = ROOT / "static" / "tracker.js"
FORMS = ROOT / "static" / "forms.js"
PAGES = Path(__file__).resolve().parent / "pages"

SITE = "pk_test"
SESSION_ID = "s_1"
VISITOR_ID = "v_1"
# The numbers every fixture page is written around, and what the fake API puts in their place.
RU_TARGET, RU_DYNAMIC = "+74951234567", "+74959876543"
US_TARGET, US_SOURCE = "+15551234567", "+15559876543"
KEPT_TARGET = "+74957654321"  # answered with kind "target": stays as it is
NUMBERS: list[dict[str, str]] = [
    {"target": RU_TARGET, "number": RU_DYNAMIC, "kind": "dynamic"},
    {"target": US_TARGET, "number": US_SOURCE, "kind": "source"},
    {"target": KEPT_TARGET, "number": KEPT_TARGET, "kind": "target"},
]

# Records every fetch() the page makes, synchronously and in page order, and marks it done (with
# its status, 0 for no answer) in the same microtask checkpoint as the tracker's own handler runs:
# when the body has been parsed (r.json()), when a non-2xx answer arrives, or when the request
# fails or is aborted. Page-side waits (``wait_for_function``) run as tasks of their own, so once
# they see a request done, the tracker has handled it.
REQUEST_RECORDER = """
(() => {
  const fetch = window.fetch;
  window.__requests = [];
  window.fetch = function (url) {
    const rec = { url: String(url), status: null };
    window.__requests.push(rec);
    return fetch.apply(this, arguments).then(
      (response) => {
        if (!response.ok) {
          rec.status = response.status;
          return response;
        }
        const json = response.json;
        response.json = function () {
          const parsed = json.call(this);
          const done = () => { rec.status = response.status; };
          parsed.then(done, done);
          return parsed;
        };
        return response;
      },
      (error) => {
        rec.status = 0;
        throw error;
      },
    );
  };
})();
"""


def session_response(
    *,
    session_id: str = SESSION_ID,
    visitor_id: str = VISITOR_ID,
    numbers: list[dict[str, str]] | None = None,
    ping_s: int = 60,
) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "visitor_id": visitor_id,
        "numbers": NUMBERS if numbers is None else numbers,
        "ping_s": ping_s,
    }


@dataclass
class ApiCall:
    """One request the snippet made to the Tracker API."""

    method: str
    url: str
    path: str  # after /t/{site}
    content_type: str
    body: dict[str, Any]


# What the fake answers: a status and a body (a dict is sent as JSON, a str as is), None to fail
# at the network level (connection refused), or HOLD to keep the request waiting (a slow API; the
# test answers it later, if at all, through ``FakeApi.held``).
HOLD: Final = "hold"
Reply = tuple[int, dict[str, Any] | str] | Literal["hold"] | None
Handler = Callable[[ApiCall], Reply]


@dataclass
class FakeApi:
    """The Tracker API as the snippet sees it; swap ``on_session`` / ``on_ping`` per test."""

    calls: list[ApiCall] = field(default_factory=list)
    on_session: Handler = field(default=lambda call: (200, session_response()))
    on_ping: Handler = field(default=lambda call: (200, session_response()))
    cors: bool = False
    held: list[Route] = field(default_factory=list)

    def handle(self, route: Route) -> None:
        request = route.request
        marker = f"/t/{SITE}"
        path = request.url.split(marker, 1)[1] if marker in request.url else request.url
        if request.method == "OPTIONS":  # would mean the snippet triggered a CORS preflight
            self.calls.append(ApiCall("OPTIONS", request.url, path, "", {}))
            route.fulfill(status=204, headers=self._headers())
            return
        raw = request.post_data or ""
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"__unparsed__": raw}
        call = ApiCall(
            method=request.method,
            url=request.url,
            path=path,
            content_type=request.headers.get("content-type", ""),
            body=body,
        )
        self.calls.append(call)
        reply = self.on_ping(call) if path.endswith("/ping") else self.on_session(call)
        if reply is None:
            route.abort("connectionrefused")
            return
        if reply == HOLD:
            self.held.append(route)
            return
        status, payload = reply
        text = payload if isinstance(payload, str) else json.dumps(payload)
        route.fulfill(status=status, body=text, headers=self._headers("application/json"))

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"access-control-allow-origin": "*"} if self.cors else {}
        if content_type:
            headers["content-type"] = content_type
        return headers

    @property
    def sessions(self) -> list[ApiCall]:
        return [c for c in self.calls if c.path == "/sessions"]

    @property
    def pings(self) -> list[ApiCall]:
        return [c for c in self.calls if c.path.endswith("/ping")]


@dataclass
class Tab:
    """A fresh browser context and page, the fake API and whatever went wrong in the page."""

    base: str
    context: BrowserContext
    page: Page
    api: FakeApi
    page_errors: list[str] = field(default_factory=list)
    console_problems: list[str] = field(default_factory=list)

    def open(self, name: str, *, query: str = "", referer: str | None = None) -> None:
        """Load a fixture page and wait until the snippet's first request has been handled."""
        url = f"{self.base}/pages/{name}{query}"
        self.page.goto(url, referer=referer) if referer else self.page.goto(url)
        self.settle()

    def settle(self, requests: int = 1) -> None:
        """Wait until at least ``requests`` tracker requests have been answered and handled."""
        self.page.wait_for_function(
            "n => window.__requests.length >= n && window.__requests.every(r => r.status !== null)",
            arg=requests,
        )

    def text(self, selector: str) -> str:
        value: str = self.page.eval_on_selector(selector, "e => e.textContent")
        return value

    def attr(self, selector: str, name: str) -> str | None:
        value: str | None = self.page.get_attribute(selector, name)
        return value

    def wait_text(self, selector: str, expected: str) -> None:
        self.page.wait_for_function(
            "([s, t]) => document.querySelector(s) && document.querySelector(s).textContent === t",
            arg=[selector, expected],
        )

    def request_urls(self) -> list[str]:
        urls: list[str] = self.page.evaluate("window.__requests.map(r => r.url)")
        return urls

    def request_statuses(self) -> list[int | None]:
        statuses: list[int | None] = self.page.evaluate("window.__requests.map(r => r.status)")
        return statuses

    def assert_quiet(self) -> None:
        assert self.page_errors == []
        assert self.console_problems == []


def served_tracker() -> bytes:
    """tracker.js as the app serves it: minified from the readable source."""
    snippet = build_snippet(TRACKER)
    assert snippet is not None, f"{TRACKER} is missing"
    return snippet.minified


# Pages a test writes at run time (say, around a live app's port and a site's key), by path.
DYNAMIC_PAGES: dict[str, bytes] = {}


class _Handler(BaseHTTPRequestHandler):
    """Serves /static/tracker.js (minified, as the app does), /pages/*.html and DYNAMIC_PAGES."""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in DYNAMIC_PAGES:
            self._send(DYNAMIC_PAGES[path], "text/html; charset=utf-8")
        elif path in ("/static/tracker.js", "/t/tracker.js"):
            self._send(served_tracker(), "application/javascript")
        elif path.startswith("/pages/") and "/" not in path[len("/pages/") :]:
            page = PAGES / path[len("/pages/") :]
            if page.is_file():
                self._send(page.read_bytes(), "text/html; charset=utf-8")
            else:
                self.send_error(404)
        else:
            self.send_error(404)

    def _send(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# Module scope, not session: between calls the sync API leaves its event loop marked as running,
# which would break the async tests of other packages that run after these in the same session.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch_chromium() as chromium:
        yield chromium


def _is_problem(message: ConsoleMessage) -> bool:
    # Chromium itself logs "Failed to load resource" for a Tracker API request that got a 4xx/5xx or
    # no connection; no script can silence that line and it is not the snippet speaking. Anything
    # else at warning or error level counts, including that line for any other URL.
    if message.type not in ("error", "warning"):
        return False
    network = message.text.startswith("Failed to load resource")
    return not (network and "/t/" in message.location.get("url", ""))


@pytest.fixture
def tab_factory(browser: Browser, server: str) -> Iterator[Callable[[], Tab]]:
    contexts: list[BrowserContext] = []

    def make() -> Tab:
        context = browser.new_context()
        contexts.append(context)
        context.add_init_script(REQUEST_RECORDER)
        page = context.new_page()
        page.set_default_timeout(10_000)
        tab = Tab(base=server, context=context, page=page, api=FakeApi())
        page.on("pageerror", lambda error: tab.page_errors.append(_describe(error)))
        page.on(
            "console",
            lambda msg: tab.console_problems.append(msg.text) if _is_problem(msg) else None,
        )
        context.route(f"**/t/{SITE}/**", tab.api.handle)
        return tab

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def tab(tab_factory: Callable[[], Tab]) -> Tab:
    return tab_factory()


def _describe(error: Error) -> str:
    return f"{error.name}: {error.message}"
