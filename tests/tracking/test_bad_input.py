"""Fuzzed tracker bodies: over-long tags are cut to their column, NUL bytes are dropped, and
the next visit on the same app (the same connection pool) still works."""

from __future__ import annotations

import uuid
from typing import Any

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import TrackingSession
from tests.tracking.test_endpoints import site, start

__all__ = ["site"]


async def _stored(
    sessionmaker: async_sessionmaker[AsyncSession], session_id: str
) -> TrackingSession:
    async with sessionmaker() as db:
        session = await db.get(TrackingSession, uuid.UUID(session_id))
        assert session is not None
        return session


async def test_tags_longer_than_their_columns_are_cut_to_fit(
    anonymous: AsyncClient, site: dict[str, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    long = "x" * 600
    url = (
        f"https://shop.example/?utm_source={long}&utm_medium={long}&utm_campaign={long}"
        f"&utm_term={long}&utm_content={long}&gclid={long}"
    )

    response = await start(anonymous, site, url=url, ga_client_id="1" * 300, ym_client_id="2" * 300)

    assert response.status_code == 200, response.text
    session = await _stored(sessionmaker, response.json()["session_id"])
    assert (session.source, session.medium) == ("x" * 200, "x" * 200)
    assert (session.campaign, session.term, session.content) == ("x" * 500,) * 3
    assert session.gclid == "x" * 500
    assert (session.ga_client_id, session.ym_client_id) == ("1" * 100, "2" * 100)
    assert session.landing_url == url


async def test_nul_bytes_are_dropped_from_every_field(
    anonymous: AsyncClient, site: dict[str, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    response = await start(
        anonymous,
        site,
        url="https://shop.example/\x00?utm_source=ya%00ndex&utm_campaign=so\x00fas",
        referrer="https://ya\x00.ru/",
        ga_client_id="12\x0034",
        ym_client_id="\x0056",
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36",
    )

    assert response.status_code == 200, response.text
    session = await _stored(sessionmaker, response.json()["session_id"])
    assert session.landing_url == "https://shop.example/?utm_source=ya%00ndex&utm_campaign=sofas"
    assert (session.source, session.campaign) == ("yandex", "sofas")
    assert (session.referrer, session.ga_client_id, session.ym_client_id) == (
        "https://ya.ru/",
        "1234",
        "56",
    )
    ping = await anonymous.post(
        f"/t/{site['public_key']}/sessions/{session.id}/ping",
        content='{"ga_client_id": "7\\u00008", "consent": true}',
        headers={"Content-Type": "text/plain", "Origin": "https://shop.example"},
    )
    assert ping.status_code == 200, ping.text
    assert (await _stored(sessionmaker, str(session.id))).ga_client_id == "1234"


async def test_the_app_serves_the_next_visit_after_a_fuzzed_one(
    anonymous: AsyncClient, site: dict[str, Any]
) -> None:
    for body in (
        {"url": "https://shop.example/?utm_source=" + "y" * 5000},
        {"url": "https://shop.example/", "referrer": "\x00" * 10},
        {"url": "https://shop.example/", "ga_client_id": "\x00"},
    ):
        assert (await start(anonymous, site, **body)).status_code in (200, 422), body
    again = await start(anonymous, site, url="https://shop.example/?utm_source=vk")
    assert again.status_code == 200
    assert again.json()["numbers"]
