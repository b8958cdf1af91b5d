"""Debian's Chromium under Playwright's sync API, shared by the tracker and dashboard tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.backends import IN_CI

CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")
# Headless, and nothing reaching for the network: this machine's network is closed.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Chromium, or a skip without it (a failure under CI=true).

    While it runs, the sync API keeps its event loop marked as running in this thread: nothing
    here may call asyncio.run() (or run async fixtures) until it has ended.
    """
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
