"""/healthz, /metrics and the OpenAPI document."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from pydantic import SecretStr

from app.config import Settings
from app.main import create_app
from tests.conftest import TEST_ADMIN_TOKEN, TEST_SECRET_KEY


async def _get(app: FastAPI, path: str) -> Response:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
        return await http.get(path)


async def test_healthz_reports_database_and_embedded_store(anonymous: AsyncClient) -> None:
    response = await anonymous.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["database"]["backend"] in ("sqlite", "postgresql")
    assert body["pool_store"] == {"ok": True, "kind": "embedded"}


@pytest.fixture
async def redis_app_client(settings: Settings, redis_url: str) -> AsyncIterator[AsyncClient]:
    app = create_app(settings.model_copy(update={"redis_url": redis_url}))
    transport = ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://t") as http,
    ):
        yield http


async def test_healthz_reports_the_redis_store(redis_app_client: AsyncClient) -> None:
    response = await redis_app_client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["pool_store"] == {"ok": True, "kind": "redis"}


async def test_healthz_is_503_when_redis_is_down(settings: Settings) -> None:
    # Nothing listens on port 1: the store must say so quickly instead of hanging.
    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    async with app.router.lifespan_context(app):
        response = await _get(app, "/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["pool_store"] == {"ok": False, "kind": "redis"}
    assert response.json()["database"]["ok"] is True


async def test_healthz_is_503_when_the_database_is_down(tmp_path: object) -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
        admin_token=SecretStr(TEST_ADMIN_TOKEN),
        secret_key=SecretStr(TEST_SECRET_KEY),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        response = await _get(app, "/healthz")

    assert response.status_code == 503
    assert response.json()["database"]["ok"] is False


async def test_metrics_count_requests_by_route(app: FastAPI, client: AsyncClient) -> None:
    await client.get("/api/v1/sites")
    await client.get(f"/api/v1/sites/{uuid.uuid4()}")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'callsource_http_requests_total{method="GET",route="/api/v1/sites",status="200"} 1.0'
        in text
    )
    one_404 = 'method="GET",route="/api/v1/sites/{site_id}",status="404"} 1.0'
    assert f"callsource_http_requests_total{{{one_404}" in text
    assert (
        'callsource_http_request_duration_seconds_count{method="GET",route="/api/v1/sites"} 1.0'
        in text
    )


async def test_openapi_describes_the_admin_api(anonymous: AsyncClient) -> None:
    spec = (await anonymous.get("/openapi.json")).json()

    paths = spec["paths"]
    for path in (
        "/api/v1/sites",
        "/api/v1/sites/{site_id}",
        "/api/v1/sites/{site_id}/pools",
        "/api/v1/sites/{site_id}/static-numbers",
        "/api/v1/sites/{site_id}/pbx",
        "/api/v1/sites/{site_id}/crm",
        "/healthz",
    ):
        assert path in paths, path
