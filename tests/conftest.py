"""Shared fixtures: real databases (SQLite and PostgreSQL), real Redis, the app and its client."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import migrations
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.kit import crypto
from app.main import create_app
from app.models import Base
from tests.backends import TEST_POSTGRES_URL, TEST_REDIS_URL, require_postgres, require_redis
from tests.clock import ManualClock

# Shared fixtures kept in their own modules: a real SMTP server for mail tests.
pytest_plugins = ["tests.smtp_server"]

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrations.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of this test run's own, migrated once, dropped at the end."""
    require_postgres()
    name = f"callsource_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_url = make_url(TEST_POSTGRES_URL)
    asyncio.run(_execute_autocommit(admin_url.render_as_string(False), f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        migrations.upgrade(url)
        yield url
    finally:
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        asyncio.run(_execute_autocommit(admin_url.render_as_string(False), drop))


async def _execute_autocommit(url: str, statement: str) -> None:
    engine = create_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that uses the database runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        if engine.dialect.name == "postgresql":
            # Each test starts from empty tables in the shared, migrated database.
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            async with engine.begin() as connection:
                await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
        await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def db(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A real Redis on a database index of the tests' own, emptied before and after."""
    require_redis()
    client = Redis.from_url(TEST_REDIS_URL)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


@pytest.fixture
def redis_url() -> str:
    require_redis()
    return TEST_REDIS_URL


# --- the app -------------------------------------------------------------------------------

TEST_ADMIN_TOKEN = "test-admin-token-4f9c2e7a1b"
TEST_SECRET_KEY = "test-secret-key-9d1e6b3a7c5f2048"
PUBLIC_URL = "https://calls.example.test"


@pytest.fixture(scope="session", autouse=True)
def keyring() -> Iterator[None]:
    """The test process's credentials key, as create_app and the CLI commands configure it."""
    crypto.configure(crypto.Keyring(TEST_SECRET_KEY))
    yield
    crypto.configure(None)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url="",
        admin_token=SecretStr(TEST_ADMIN_TOKEN),
        secret_key=SecretStr(TEST_SECRET_KEY),
        public_url=PUBLIC_URL,
    )


@pytest.fixture
async def app(
    settings: Settings, clock: ManualClock, engine: AsyncEngine
) -> AsyncIterator[FastAPI]:
    # `engine` is requested so that PostgreSQL tables are emptied after the test.
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """An HTTP client of the app, signed in with the admin token."""
    transport = ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}
    async with AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as http:
        yield http


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `only_on("postgresql")` (several workers on one outbox, say) is not
    generated for the other backend at all, rather than skipped there."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("only_on")
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec is not None else None
        wrong = marker is not None and backend is not None and backend != marker.args[0]
        (dropped if wrong else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
