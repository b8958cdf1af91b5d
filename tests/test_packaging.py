"""`pip install .` as production does it: a wheel, installed into a virtualenv of its own, run
from outside the checkout. A wheel once left out the migrations and the snippet, so `callsource
migrate` failed and `/t/tracker.js` was a 404 although every test of the checkout passed."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.tracking.snippet import build_snippet
from tests.backends import require_postgres
from tests.cli_processes import ROOT, free_port
from tests.postgres_databases import fresh_postgres_database

pytestmark = pytest.mark.slow

# What a build must not see: the checkout's virtualenv, databases and caches, and earlier
# builds (a stale build/lib would put files deleted since into the wheel).
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", "*.db", ".*_cache"
)


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path
    outside: Path  # a folder outside the checkout to run the commands in

    def env(self, **settings: str) -> dict[str, str]:
        # Nothing of the checkout: no PYTHONPATH, no CALLSOURCE_ setting of this shell.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CALLSOURCE_", "PYTHON", "VIRTUAL_ENV"))
        }
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env.update(settings)
        return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    dist = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        check=True,
        timeout=240,
    )
    (wheel,) = dist.glob("callsource-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
        check=True,
        timeout=280,
    )
    outside = work / "run"
    outside.mkdir()
    return Installed(wheel=wheel, bin=venv / "bin", outside=outside)


def test_the_wheel_carries_the_migrations_and_the_snippet(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    revisions = {p.name for p in (ROOT / "migrations" / "versions").glob("*.py")}

    assert "app/_bundled/migrations/env.py" in names
    assert "app/_bundled/migrations/script.py.mako" in names
    assert {n.rsplit("/", 1)[-1] for n in names if "/_bundled/migrations/versions/" in n} == (
        revisions
    )
    assert "app/_bundled/static/tracker.js" in names
    for language in ("ru", "en", "es"):
        assert f"app/locale/{language}/LC_MESSAGES/messages.mo" in names
        assert f"app/locale/{language}/LC_MESSAGES/messages.po" in names
    assert not [n for n in names if n.startswith(("migrations/", "static/", "tests/"))]
    assert not [n for n in names if "__pycache__" in n]


@pytest.fixture
def database_url() -> Iterator[str]:
    require_postgres()
    with fresh_postgres_database() as url:
        yield url


def test_the_installed_wheel_migrates_and_serves(installed: Installed, database_url: str) -> None:
    environment = installed.env(
        CALLSOURCE_DATABASE_URL=database_url,
        CALLSOURCE_ADMIN_TOKEN=secrets.token_urlsafe(32),
        CALLSOURCE_SECRET_KEY=secrets.token_urlsafe(32),
    )
    callsource = str(installed.bin / "callsource")
    migrated = subprocess.run(
        [callsource, "migrate"],
        cwd=installed.outside,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr

    port = free_port()
    server = subprocess.Popen(
        [callsource, "serve", "--port", str(port)],
        cwd=installed.outside,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        health = _wait_for(f"{base}/healthz", server, deadline=time.monotonic() + 60)
        snippet = httpx.get(f"{base}/t/tracker.js", timeout=10)
        russian = httpx.get(f"{base}/setup", headers={"Accept-Language": "ru"}, timeout=10)
    finally:
        server.terminate()
        _out, log = server.communicate(timeout=30)

    assert health.status_code == 200, log
    assert health.json()["database"] == {"ok": True, "backend": "postgresql"}
    assert snippet.status_code == 200, snippet.text
    assert snippet.headers["content-type"].startswith("application/javascript")
    expected = build_snippet(ROOT / "static" / "tracker.js")
    assert expected is not None
    assert snippet.content == expected.minified
    # The compiled catalogs came with the wheel: the dashboard speaks Russian.
    assert russian.status_code == 200, log
    assert '<html lang="ru">' in russian.text
    assert "Создание первого администратора" in russian.text
    assert "Application shutdown complete" in log  # stopped gracefully on SIGTERM


def _wait_for(url: str, server: subprocess.Popen[str], deadline: float) -> httpx.Response:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited with {server.returncode}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")
