"""Who may read /metrics: the bearer token when CALLSOURCE_METRICS_TOKEN is set, otherwise
loopback peers only (the raw peer address; forwarded headers change nothing)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr

from app.config import Settings
from app.main import create_app

METRICS_TOKEN = "metrics-token-7c1d9e2b4a6f"


@pytest.fixture
async def token_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)}))
    async with app.router.lifespan_context(app):
        yield app


async def _scrape(
    app: FastAPI, *, peer: str = "127.0.0.1", headers: dict[str, str] | None = None
) -> int:
    transport = ASGITransport(app=app, client=(peer, 40123))
    async with AsyncClient(transport=transport, base_url="http://t") as http:
        return (await http.get("/metrics", headers=headers)).status_code


async def test_with_a_token_metrics_need_it_from_any_peer(token_app: FastAPI) -> None:
    assert await _scrape(token_app) == 401
    assert await _scrape(token_app, headers={"Authorization": "Bearer wrong-token"}) == 401
    assert await _scrape(token_app, headers={"Authorization": METRICS_TOKEN}) == 401
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert await _scrape(token_app, headers=bearer) == 200
    assert await _scrape(token_app, peer="203.0.113.5", headers=bearer) == 200


async def test_without_a_token_only_loopback_peers_get_metrics(app: FastAPI) -> None:
    assert await _scrape(app, peer="127.0.0.1") == 200
    assert await _scrape(app, peer="::1") == 200
    assert await _scrape(app, peer="203.0.113.5") == 403
    assert await _scrape(app, peer="10.0.0.7") == 403
    # A forwarded header is not the peer.
    spoofed = {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"}
    assert await _scrape(app, peer="203.0.113.5", headers=spoofed) == 403


async def test_a_refusal_names_what_is_needed(token_app: FastAPI, app: FastAPI) -> None:
    async with AsyncClient(transport=ASGITransport(app=token_app), base_url="http://t") as http:
        refused = await http.get("/metrics")
    assert "CALLSOURCE_METRICS_TOKEN" in refused.json()["detail"]
    assert refused.headers["www-authenticate"] == "Bearer"
    transport = ASGITransport(app=app, client=("203.0.113.5", 1234))
    async with AsyncClient(transport=transport, base_url="http://t") as http:
        refused = await http.get("/metrics")
    assert refused.status_code == 403
    assert "loopback" in refused.json()["detail"]
