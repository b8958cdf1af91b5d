"""The snippet against the real app, in real Chromium: the numbers shown are the leases recorded.

The app (``create_app``) runs under uvicorn in a thread of its own on 127.0.0.1, once on each
backend of ``database_url``: SQLite with the embedded pool store, and PostgreSQL with Redis, as in
production. A site is set up through the admin API; its page, served by the tests' page server on
another port (host 127.0.0.1, one of the site's domains, so CORS is granted), embeds the snippet
from the app with the very tag the app hands out: ``<script src="APP/t/tracker.js" data-site=...>``.

Playwright's sync API keeps an event loop marked as running in the test's thread while Chromium
is up. So Chromium is launched per test, after the database fixtures have done their own
asyncio.run(), and everything async here (the app, the database reads) runs in other threads.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
import redis
import uvicorn
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Route
from pydantic import SecretStr
from sqlalchemy import func, select, text

from app.config import Settings
from app.db import create_engine
from app.main import create_app
from app.models import Base, NumberAssignment, TrackingNumber, TrackingSession
from tests.browser import launch_chromium
from tests.conftest import TEST_ADMIN_TOKEN, TEST_SECRET_KEY
from tests.tracker.conftest import DYNAMIC_PAGES, REQUEST_RECORDER

T = TypeVar("T")

# Headless Chromium says "HeadlessChrome", which the app rightly takes for a crawler.
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SALES = "+74951234567"  # pooled: every visitor with consent gets a number of their own
POOL = ["+74950000001", "+74950000002"]
SERVICE = "+74957654321"  # no pool: newsletter readers see NEWSLETTER, everyone else the target
NEWSLETTER = "+74950000101"

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Live</title><link rel="icon" href="data:,">
{snippet}
</head>
<body>
<p>Sales: <a id="sales" href="tel:+74951234567">+7 (495) 123-45-67</a></p>
<p id="service">Service: 8 495 765-43-21</p>
<a id="next" href="{name}?page=2">next</a>
</body>
</html>
"""
SALES_SHOWN = "+7 (495) 123-45-67"


@dataclass
class LiveApp:
    base: str
    database_url: str
    admin: httpx.Client


@dataclass
class Site:
    id: str
    key: str
    page_url: str


@dataclass
class Visitor:
    """One browser profile (its own cookies and storage) with one tab, and what went wrong in it."""

    context: BrowserContext
    page: Page
    problems: list[str] = field(default_factory=list)

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.settle()

    def settle(self) -> None:
        """Wait until the snippet's requests of this page view have been answered and handled."""
        self.page.wait_for_function(
            "window.__requests.length > 0 && window.__requests.every(r => r.status !== null)"
        )

    def requests(self) -> list[tuple[str, int]]:
        found: list[list[Any]] = self.page.evaluate("window.__requests.map(r => [r.url, r.status])")
        return [(url, status) for url, status in found]

    def text(self, selector: str) -> str:
        value: str = self.page.eval_on_selector(selector, "e => e.textContent")
        return value

    def session_id(self, site: Site) -> uuid.UUID | None:
        """The session the snippet keeps for this tab (its sessionStorage), if any."""
        stored: str | None = self.page.evaluate(
            "key => (JSON.parse(sessionStorage.getItem('cs:' + key)) || [null])[0]", site.key
        )
        return uuid.UUID(stored) if stored else None


def digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion in a thread of its own (see the module docstring)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


async def _leases(database_url: str, session_id: uuid.UUID) -> list[tuple[str, bool]]:
    """The lease log of one session: (number, still open), oldest first."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(TrackingNumber.number, NumberAssignment.ended_at)
                .join(TrackingNumber, TrackingNumber.id == NumberAssignment.tracking_number_id)
                .where(NumberAssignment.session_id == session_id)
                .order_by(NumberAssignment.started_at)
            )
            return [(number, ended_at is None) for number, ended_at in rows]
    finally:
        await engine.dispose()


async def _sessions(database_url: str) -> dict[uuid.UUID, str]:
    """Every tracking session: its id and its source."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(TrackingSession.id, TrackingSession.source))
            return {row.id: row.source for row in rows}
    finally:
        await engine.dispose()


async def _count_leases(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(select(func.count()).select_from(NumberAssignment))
            return int(count or 0)
    finally:
        await engine.dispose()


async def _truncate(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    finally:
        await engine.dispose()


def leases(live: LiveApp, session_id: uuid.UUID) -> list[tuple[str, bool]]:
    return run_async(_leases(live.database_url, session_id))


def flush(redis_url: str) -> None:
    """Empty the tests' Redis database: no rate-limit counts or leases of other tests."""
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()


def _wait_until_healthy(base: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not thread.is_alive():
            pytest.fail("the app stopped while starting")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"the app at {base} did not become healthy")


@pytest.fixture
def live_app(database_url: str, request: pytest.FixtureRequest) -> Iterator[LiveApp]:
    postgres = database_url.startswith("postgresql")
    redis_url: str = request.getfixturevalue("redis_url") if postgres else ""
    if redis_url:
        flush(redis_url)
    # Bound before the app is made: the snippet URLs it hands out name this port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        admin_token=SecretStr(TEST_ADMIN_TOKEN),
        secret_key=SecretStr(TEST_SECRET_KEY),
        public_url=base,
    )
    config = uvicorn.Config(
        create_app(settings),
        log_config=None,
        access_log=False,
        lifespan="on",
        loop="asyncio",
        http="h11",
        ws="none",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="live-app", daemon=True
    )
    thread.start()
    admin = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}, timeout=10
    )
    try:
        _wait_until_healthy(base, thread)
        yield LiveApp(base=base, database_url=database_url, admin=admin)
    finally:
        admin.close()
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        if postgres:
            # The next test starts from empty tables in the run's shared database.
            run_async(_truncate(database_url))
        if redis_url:
            flush(redis_url)
    assert not thread.is_alive(), "the app did not stop"


@pytest.fixture
def live_browser(live_app: LiveApp) -> Iterator[Browser]:
    # Requested after live_app, so the database fixtures have set up before the sync API starts.
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
def site(live_app: LiveApp, server: str) -> Iterator[Site]:
    """A site for 127.0.0.1 with a pool, a source-level number, and a page embedding it."""
    admin = live_app.admin
    created = admin.post(
        "/api/v1/sites",
        json={
            "name": "Live",
            "domains": ["127.0.0.1", "localhost"],
            "country": "RU",
            "timezone": "Europe/Moscow",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    pool = admin.post(
        f"/api/v1/sites/{body['id']}/pools", json={"target_number": SALES, "numbers": POOL}
    )
    assert pool.status_code == 201, pool.text
    static = admin.post(
        f"/api/v1/sites/{body['id']}/static-numbers",
        json={
            "number": NEWSLETTER,
            "kind": "source",
            "target_number": SERVICE,
            "source": "newsletter",
        },
    )
    assert static.status_code == 201, static.text
    # The page carries the tag the app hands out, as pasted by the site's owner.
    assert f'src="{live_app.base}/t/tracker.js"' in body["snippet"]
    name = f"live-{uuid.uuid4().hex[:8]}.html"
    DYNAMIC_PAGES[f"/{name}"] = PAGE.format(snippet=body["snippet"], name=name).encode()
    try:
        yield Site(id=body["id"], key=body["public_key"], page_url=f"{server}/{name}")
    finally:
        DYNAMIC_PAGES.pop(f"/{name}", None)


@pytest.fixture
def visitors(live_browser: Browser) -> Iterator[list[Visitor]]:
    """Visitors made by ``new_visitor``, closed at the end."""
    made: list[Visitor] = []
    yield made
    for visitor in made:
        visitor.context.close()


def new_visitor(
    browser: Browser, made: list[Visitor], *, user_agent: str | None = DESKTOP_CHROME
) -> Visitor:
    context = browser.new_context(user_agent=user_agent) if user_agent else browser.new_context()
    context.add_init_script(REQUEST_RECORDER)
    page = context.new_page()
    page.set_default_timeout(15_000)
    visitor = Visitor(context=context, page=page)

    def console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            visitor.problems.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", console)
    page.on("pageerror", lambda error: visitor.problems.append(f"{error.name}: {error.message}"))
    made.append(visitor)
    return visitor


def test_the_numbers_shown_are_the_leases_in_the_database(
    live_app: LiveApp, live_browser: Browser, site: Site, visitors: list[Visitor]
) -> None:
    api = f"{live_app.base}/t/{site.key}"
    alice = new_visitor(live_browser, visitors)

    # First view: a session, and the number its lease holds, in the page's own format.
    alice.open(site.page_url)
    assert [url for url, _ in alice.requests()] == [f"{api}/sessions"]
    alice.page.wait_for_function(
        f"document.querySelector('#sales').textContent !== {SALES_SHOWN!r}"
    )
    session = alice.session_id(site)
    assert session is not None
    [(held, still_open)] = leases(live_app, session)
    assert still_open
    assert held in POOL
    shown = alice.text("#sales")
    assert re.fullmatch(r"\+7 \(495\) \d{3}-\d{2}-\d{2}", shown), shown
    assert "+" + digits(shown) == held
    assert alice.page.get_attribute("#sales", "href") == f"tel:{held}"
    # A direct visit: no source-level number for the service line, so the site's own stays.
    assert alice.text("#service") == "Service: 8 495 765-43-21"
    assert run_async(_sessions(live_app.database_url)) == {session: "(direct)"}

    # Second page view in the same tab: a ping of the same session keeps the same lease.
    alice.page.click("#next")
    alice.page.wait_for_url("**?page=2")
    alice.settle()
    assert alice.requests() == [(f"{api}/sessions/{session}/ping", 200)]
    assert alice.text("#sales") == shown
    assert leases(live_app, session) == [(held, True)]

    # A reload of the tab with campaign tags: still the same visit, the same number.
    alice.open(f"{site.page_url}?utm_source=newsletter")
    assert alice.requests() == [(f"{api}/sessions/{session}/ping", 200)]
    assert alice.session_id(site) == session
    assert alice.text("#sales") == shown
    assert alice.text("#service") == "Service: 8 495 765-43-21"
    assert leases(live_app, session) == [(held, True)]

    # Another visitor, from the newsletter: the other pool number, and the newsletter's number
    # for the service line.
    bob = new_visitor(live_browser, visitors)
    bob.open(f"{site.page_url}?utm_source=newsletter&utm_medium=email")
    assert [url for url, _ in bob.requests()] == [f"{api}/sessions"]
    bob.page.wait_for_function(f"document.querySelector('#sales').textContent !== {SALES_SHOWN!r}")
    other = bob.session_id(site)
    assert other is not None
    assert other != session
    [(bobs, still_open)] = leases(live_app, other)
    assert still_open
    assert bobs in POOL
    assert bobs != held
    assert "+" + digits(bob.text("#sales")) == bobs
    assert bob.page.get_attribute("#sales", "href") == f"tel:{bobs}"
    assert bob.text("#service") == "Service: 8 495 000-01-01"
    assert "+7" + digits(bob.text("#service"))[1:] == NEWSLETTER
    assert run_async(_sessions(live_app.database_url)) == {
        session: "(direct)",
        other: "newsletter",
    }

    # And Alice, meanwhile, still shows the number she holds.
    assert alice.text("#sales") == shown
    for visitor in visitors:
        assert visitor.problems == []


def test_a_crawler_sees_the_site_own_numbers_and_leases_nothing(
    live_app: LiveApp, live_browser: Browser, site: Site, visitors: list[Visitor]
) -> None:
    # Headless Chromium's own user agent: the app answers it as a crawler, without a session.
    crawler = new_visitor(live_browser, visitors, user_agent=None)
    assert "HeadlessChrome" in crawler.page.evaluate("navigator.userAgent")
    crawler.page.clock.install()

    crawler.open(site.page_url)
    assert crawler.requests() == [(f"{live_app.base}/t/{site.key}/sessions", 200)]
    # Long enough for many ping periods, and a return to the tab: nothing more is sent.
    crawler.page.clock.run_for(10 * 60_000)
    crawler.page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    assert len(crawler.requests()) == 1

    assert crawler.text("#sales") == SALES_SHOWN
    assert crawler.page.get_attribute("#sales", "href") == f"tel:{SALES}"
    assert crawler.text("#service") == "Service: 8 495 765-43-21"
    assert crawler.session_id(site) is None
    assert crawler.page.get_attribute("script[data-site]", "data-bot") == "1"
    assert run_async(_sessions(live_app.database_url)) == {}
    assert run_async(_count_leases(live_app.database_url)) == 0
    assert crawler.problems == []


def test_consent_given_mid_page_swaps_a_leased_number_on_that_page_view(
    live_app: LiveApp, live_browser: Browser, site: Site, visitors: list[Visitor]
) -> None:
    """Issue 13: a visitor who accepted the consent banner got a tracking number only on the
    next page view, so a call from that landing page was lost."""
    page = PAGE.format(
        snippet=_snippet(live_app, site).replace(
            " data-site=", ' data-consent="required" data-site='
        ),
        name="consent",
    )
    name = f"/consent-{uuid.uuid4().hex[:8]}.html"
    DYNAMIC_PAGES[name] = page.encode()
    url = site.page_url.rsplit("/", 1)[0] + name
    try:
        carol = new_visitor(live_browser, visitors)
        carol.open(url)
        # No consent yet: no lease, the page keeps the site's own number.
        session = carol.session_id(site)
        assert session is not None
        assert leases(live_app, session) == []
        assert carol.text("#sales") == SALES_SHOWN

        carol.page.evaluate("callsource('consent', true)")

        # The same page view, no navigation: the number is leased at once and swapped in.
        carol.page.wait_for_function(
            f"document.querySelector('#sales').textContent !== {SALES_SHOWN!r}", timeout=5_000
        )
        [(held, still_open)] = leases(live_app, session)
        assert still_open
        assert held in POOL
        assert "+" + digits(carol.text("#sales")) == held
        assert carol.page.get_attribute("#sales", "href") == f"tel:{held}"
        assert carol.session_id(site) == session

        # Consent given while the first request is still out (held here until then): the
        # number still comes on this page view, not a ping period later.
        dave = new_visitor(live_browser, visitors)
        waiting: list[Route] = []
        dave.page.route(
            f"{live_app.base}/t/{site.key}/sessions", lambda route: waiting.append(route)
        )
        dave.page.goto(url)
        while not waiting:
            dave.page.evaluate("0")
        dave.page.evaluate("callsource('consent', true)")
        waiting.pop().continue_()
        dave.page.wait_for_function(
            f"document.querySelector('#sales').textContent !== {SALES_SHOWN!r}", timeout=5_000
        )
        daves = dave.session_id(site)
        assert daves is not None
        [(his, _open)] = leases(live_app, daves)
        assert his != held_number(carol)
        assert "+" + digits(dave.text("#sales")) == his
        for visitor in visitors:
            assert visitor.problems == []
    finally:
        DYNAMIC_PAGES.pop(name, None)


def held_number(visitor: Visitor) -> str:
    return "+" + digits(visitor.text("#sales"))


def _snippet(live_app: LiveApp, site: Site) -> str:
    body = live_app.admin.get(f"/api/v1/sites/{site.id}").json()
    snippet: str = body["snippet"]
    return snippet
