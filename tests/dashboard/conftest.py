"""Fixtures of the dashboard tests: the app over ASGI for the quick ones; a live server, real
Chromium and a week of data for the browser ones."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page
from sqlalchemy.ext.asyncio import AsyncSession

from app.dashboard import service
from app.dashboard.service import Role
from tests.browser import launch_chromium
from tests.clock import ManualClock
from tests.dashboard.live import DESKTOP_CHROME, Live, serve
from tests.dashboard.world import World

ADMIN_EMAIL = "admin@shop.example"
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


# --- over ASGI -----------------------------------------------------------------------------


@pytest.fixture
async def visitor(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """A cookie-keeping client on https, as the test settings' public URL is (Secure cookies)."""
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield http


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _databases_before_browsers(request: pytest.FixtureRequest) -> None:
    """Migrate the test databases before any browser starts: the migrations run their own event
    loop, which Playwright's sync API (marking one as running in this thread) would refuse."""
    request.getfixturevalue("sqlite_template")
    # No PostgreSQL here: its parameter of each test skips with the reason.
    with contextlib.suppress(pytest.skip.Exception):
        request.getfixturevalue("postgres_database")


# Module scope, not session: between calls the sync API leaves its event loop marked as running,
# which would break the async tests of other modules that run after these in the same session.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch_chromium() as launched:
        yield launched


@pytest.fixture
def live(database_url: str) -> Iterator[Live]:
    with serve(database_url, ManualClock()) as server:
        yield server


@pytest.fixture
def world(live: Live) -> World:
    return World(live).build_week()


@dataclass
class Tab:
    """A browser context of its own (its own cookies) and its page, watched for errors."""

    live: Live
    context: BrowserContext
    page: Page
    problems: list[str] = field(default_factory=list)

    def go(self, path: str) -> Page:
        response = self.page.goto(self.live.base + path)
        assert response is not None
        assert response.status < 400, f"{path}: {response.status}"
        return self.page

    def sign_in(self, email: str = ADMIN_EMAIL, password: str = PASSWORD) -> Tab:
        self.page.goto(self.live.base + "/login")
        self.page.fill("input[name=email]", email)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()
        assert "/login" not in self.page.url, self.page.inner_text("main")
        return self

    def assert_quiet(self) -> None:
        assert self.problems == []


def _problem(message: ConsoleMessage) -> str | None:
    # A form answered 4xx on purpose (a CSRF test) is logged by Chromium as a failed resource.
    if message.type not in ("error", "warning") or "Failed to load resource" in message.text:
        return None
    return message.text


@pytest.fixture
def tab_factory(browser: Browser, live: Live) -> Iterator[Callable[..., Tab]]:
    contexts: list[BrowserContext] = []

    def make(locale: str = "en-US") -> Tab:
        # The locale sets Accept-Language: English unless a test asks for another language.
        context = browser.new_context(
            user_agent=DESKTOP_CHROME, viewport={"width": 1360, "height": 900}, locale=locale
        )
        contexts.append(context)
        context.set_default_timeout(15_000)
        page = context.new_page()
        tab = Tab(live=live, context=context, page=page)
        page.on("pageerror", lambda error: tab.problems.append(f"{error.name}: {error.message}"))
        page.on("console", lambda m: tab.problems.append(p) if (p := _problem(m)) else None)
        return tab

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def tab(tab_factory: Callable[..., Tab]) -> Tab:
    return tab_factory()


def create_user(
    live: Live,
    *,
    email: str = ADMIN_EMAIL,
    password: str = PASSWORD,
    role: Role = Role.ADMIN,
    site_ids: tuple[uuid.UUID, ...] = (),
) -> uuid.UUID:
    now = live.clock.now

    async def create(db: AsyncSession) -> uuid.UUID:
        user = await service.create_user(
            db, email=email, password=password, role=role, site_ids=site_ids, now=now
        )
        return user.id

    return live.db(create)


@pytest.fixture
def admin(live: Live) -> uuid.UUID:
    return create_user(live)
