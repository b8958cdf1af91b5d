"""Where the tests find real PostgreSQL and Redis, and what happens when they are missing.

Under CI=true a missing service fails the run; elsewhere the tests that need it are skipped
with a visible reason, so a newcomer without the services still sees the rest pass.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

TEST_POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    try:
        with socket.create_connection((host, parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str, url: str, default_port: int) -> None:
    if _reachable(url, default_port):
        return
    message = f"{service} is not reachable at {urlsplit(url).netloc}"
    if IN_CI:
        pytest.fail(f"{message}: under CI=true the {service} tests must run", pytrace=False)
    pytest.skip(f"{message}: skipping the {service} tests (set TEST_*_URL or start it)")


def require_postgres() -> None:
    require("PostgreSQL", TEST_POSTGRES_URL, 5432)


def require_redis() -> None:
    require("Redis", TEST_REDIS_URL, 6379)
