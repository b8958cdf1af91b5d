"""Snippet requests refused for their origin are noted (bounded, throttled), so the site's
page can name the domain to add; accepted requests write nothing of the kind."""

from __future__ import annotations

import uuid
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import SnippetRefusal
from app.tracking import refusals
from tests.clock import ManualClock
from tests.tracking.test_endpoints import count, ping, site, start

__all__ = ["site"]


async def _hosts(sessionmaker: async_sessionmaker[AsyncSession], site_id: str) -> list[str]:
    async with sessionmaker() as db:
        return [r.host for r in await refusals.recent(db, site_id=uuid.UUID(site_id))]


async def test_a_refused_origin_is_noted_once_a_minute_and_an_accepted_one_never(
    anonymous: AsyncClient,
    site: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: ManualClock,
) -> None:
    accepted = await start(anonymous, site)
    assert accepted.status_code == 200
    assert (await ping(anonymous, site, accepted.json()["session_id"])).status_code == 200
    assert await count(sessionmaker, SnippetRefusal) == 0

    for _ in range(3):
        refused = await start(anonymous, site, origin="https://www.Other.example")
        assert refused.status_code == 403
    assert await _hosts(sessionmaker, site["id"]) == ["other.example"]
    clock.advance(seconds=1)
    assert (await start(anonymous, site, origin="https://third.example")).status_code == 403
    clock.advance(seconds=61)
    assert (await start(anonymous, site, origin="https://other.example:8443")).status_code == 403
    # Newest first.
    assert await _hosts(sessionmaker, site["id"]) == [
        "other.example",
        "third.example",
        "other.example",
    ]


async def test_only_the_newest_refusals_of_a_site_are_kept(
    anonymous: AsyncClient,
    site: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: ManualClock,
) -> None:
    for n in range(refusals.KEPT + 5):
        clock.advance(seconds=1)
        assert (await start(anonymous, site, origin=f"https://h{n}.example")).status_code == 403
    hosts = await _hosts(sessionmaker, site["id"])
    assert len(hosts) == refusals.KEPT
    async with sessionmaker() as db:
        stored = (await db.execute(select(SnippetRefusal.host))).scalars().all()
    assert sorted(stored) == sorted(hosts)
    assert "h0.example" not in hosts
    assert f"h{refusals.KEPT + 4}.example" in hosts
