"""The typed application state: one accessor of Starlette's untyped `app.state`, the
connections only while the app runs, one object of each domain part per app."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.state import NotStarted, state_of
from app.tracking.site_config import SiteConfigCache
from tests.clock import ManualClock

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("app", "numberpool", "pbx_webhooks", "crm_push", "bench")
ACCESSOR = ROOT / "app" / "state.py"
# Starlette's app.state, however reached (request.app.state.x, app.state.x, getattr(app.state,
# ...)), but not an import of the module app/state.py.
UNTYPED_STATE = re.compile(r"(?<!from )(?<!import )\bapp\.state\b")


def _reads(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for n, line in enumerate(lines, 1)
        if UNTYPED_STATE.search(line)
    ]


def test_the_pattern_tells_reads_from_imports() -> None:
    for read in (
        "request.app.state.settings",
        "store = app.state.pool_store",
        'getattr(app.state, "demo_inbox", None)',
        "{{ request.app.state.settings.public_url }}",
    ):
        assert UNTYPED_STATE.search(read), read
    for other in ("from app.state import app_state", "import app.state", "request.state.x"):
        assert not UNTYPED_STATE.search(other), other


def test_only_the_accessor_reads_the_untyped_app_state() -> None:
    files = [
        path
        for package in SOURCES
        for pattern in ("*.py", "*.html")
        for path in sorted((ROOT / package).rglob(pattern))
    ]
    assert ACCESSOR in files
    assert _reads(ACCESSOR), "the accessor itself must be found, or the scan finds nothing"
    assert [read for path in files if path != ACCESSOR for read in _reads(path)] == []


async def test_connections_exist_only_while_the_app_runs(
    settings: Settings, clock: ManualClock
) -> None:
    app = create_app(settings, clock=clock)
    state = state_of(app)
    assert state.clock is clock
    assert state.settings is settings
    with pytest.raises(NotStarted):
        state.sessionmaker  # noqa: B018
    async with app.router.lifespan_context(app):
        async with state.sessionmaker() as db:
            assert db.bind is state.engine
        assert await state.pool_store.healthy()
        assert state.rate_limiter is state.connections.rate_limiter
    with pytest.raises(NotStarted):
        state.pool_store  # noqa: B018


async def test_each_start_has_fresh_snapshots(settings: Settings) -> None:
    app: FastAPI = create_app(settings)
    state = state_of(app)
    async with app.router.lifespan_context(app):
        first = state.part(SiteConfigCache)
        assert state.part(SiteConfigCache) is first
        own = SiteConfigCache(ttl_s=0.0)
        state.provide(own)
        assert state.part(SiteConfigCache) is own
    async with app.router.lifespan_context(app):
        assert state.part(SiteConfigCache) not in (first, own)
