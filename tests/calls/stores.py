"""The app of a test module on each pool store in turn: import `settings` from here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from app.config import Settings
from tests.backends import TEST_REDIS_URL, require_redis


@pytest.fixture(params=["embedded", "redis"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    """The app of every test here runs on each pool store in turn (Redis emptied around)."""
    if request.param == "embedded":
        yield settings
        return
    require_redis()
    with redis.Redis.from_url(TEST_REDIS_URL) as client:
        client.flushdb()
        yield settings.model_copy(update={"redis_url": TEST_REDIS_URL})
        client.flushdb()
