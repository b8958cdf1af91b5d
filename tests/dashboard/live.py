"""The app as a real HTTP server on 127.0.0.1 (uvicorn in a thread), for the browser tests.

Browser tests are synchronous (Playwright's sync API), so nothing here needs the test's event
loop: the server runs its own loop in its thread, and database work the tests do directly runs
in a fresh loop in a thread of its own (`Live.db`).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import httpx
import uvicorn
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.demo.seed import allow_own_inbox
from app.main import create_app
from app.models import Base
from app.ratelimit import Limit, PublicLimits
from tests.clock import ManualClock
from tests.conftest import TEST_SECRET_KEY

ADMIN_TOKEN = "live-admin-token-8d41c0b7e2"
# The tracker treats "HeadlessChrome" as a bot: the browser tests present a desktop Chrome.
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Live:
    base: str
    settings: Settings
    clock: ManualClock
    api: httpx.Client  # the admin API, with the bearer token
    http: httpx.Client  # anonymous: the tracker, the webhooks

    def run(self, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
        """Run `work` with sessions of the live database, in an event loop of its own in a
        thread of its own (the test's thread may hold Playwright's)."""

        async def run() -> T:
            engine = create_engine(self.settings.database_url)
            try:
                return await work(create_sessionmaker(engine))
            finally:
                await engine.dispose()

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, run()).result()

    def db(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in one session, committed after."""

        async def one(sessions: async_sessionmaker[AsyncSession]) -> T:
            async with sessions() as session:
                result = await work(session)
                await session.commit()
                return result

        return self.run(one)


@contextmanager
def serve(
    database_url: str, clock: ManualClock, *, with_worker: bool = False, outbound_allow: str = ""
) -> Iterator[Live]:
    """The app on a free port; `outbound_allow` lets its connectors reach the test's stand-ins."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # As `callsource demo` does: its CRM worker may deliver to its own inbox on loopback.
    settings = allow_own_inbox(
        Settings(
            database_url=database_url,
            redis_url="",
            admin_token=SecretStr(ADMIN_TOKEN),
            secret_key=SecretStr(TEST_SECRET_KEY),
            public_url=base,
            # The world's visitors are told apart by X-Forwarded-For (one address and /24 each),
            # as a proxy in front of the service would.
            trusted_proxies="127.0.0.1",
            outbound_allow=outbound_allow,
        )
    )
    # The world builders open many visits from one address within a simulated minute.
    limits = PublicLimits(per_address=Limit("tracker-ip", requests=100_000, window_s=60))
    app = create_app(settings, clock=clock, public_limits=limits, with_worker=with_worker)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        loop="asyncio",
        http="h11",
        ws="none",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with (
        httpx.Client(base_url=base, headers=headers, timeout=30) as api,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        live = Live(base=base, settings=settings, clock=clock, api=api, http=http)
        try:
            yield live
        finally:
            server.should_exit = True
            thread.join(timeout=15)
            if not database_url.startswith("sqlite"):
                live.db(_truncate)


async def _truncate(session: AsyncSession) -> None:
    # The PostgreSQL test database is shared by the run: each test starts from empty tables.
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    await session.execute(text(f"TRUNCATE {tables} CASCADE"))
