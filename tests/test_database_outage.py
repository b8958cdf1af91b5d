"""PostgreSQL goes away under a serving app (a fast shutdown, or kill -9) and comes back.

While it is gone: the PBX webhook and the admin API answer 503 with Retry-After (a PBX retries
a 5xx; a 500 is no answer), the tracker still answers new visits 200 with the numbers of their
source from the site's snapshot, a ping is a 503 that leaves the page as it is, /healthz is
503, and the log has one warning line per request, no traceback. Once it is back, everything
works again without a restart.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app import migrations
from app.config import Settings
from app.main import create_app
from app.state import state_of
from app.tracking.site_config import SiteConfigCache
from pbx_webhooks.providers.generic import sign
from tests.clock import ManualClock
from tests.conftest import TEST_ADMIN_TOKEN
from tests.factories import create_pool, create_site
from tests.private_services import PrivatePostgres, require_private_postgres

# The app's own database is the private server: the backend parameter is not needed twice.
pytestmark = [pytest.mark.slow, pytest.mark.only_on("postgresql")]

TARGET = "+74951234567"
BROWSER = {
    "Origin": "https://shop.example",
    "Content-Type": "text/plain",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36",
}
YANDEX_AD = "https://shop.example/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring-sale"


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    require_private_postgres()
    with PrivatePostgres() as server:
        migrations.upgrade(server.url)
        yield server


@pytest.fixture
async def outage_app(
    private_postgres: PrivatePostgres, settings: Settings, clock: ManualClock
) -> AsyncIterator[FastAPI]:
    if not private_postgres.running:
        private_postgres.start()
    app = create_app(
        settings.model_copy(update={"database_url": private_postgres.url}), clock=clock
    )
    async with app.router.lifespan_context(app):
        # Renewed on every request, so that the outage meets a snapshot due for renewal.
        state_of(app).provide(SiteConfigCache(ttl_s=0.0))
        yield app


@pytest.fixture
async def outage_client(outage_app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=outage_app)
    headers = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}
    async with AsyncClient(transport=transport, base_url="http://t", headers=headers) as http:
        yield http


async def _world(client: AsyncClient) -> dict[str, Any]:
    """A site of its own (the private database outlives each test): a pool and a source-level
    number on numbers no other test of the module uses."""
    site = await create_site(client, name=f"Shop {uuid.uuid4().hex[:6]}")
    block = f"+7495{random.randrange(100, 999)}"
    pool_numbers = [f"{block}{n:04d}" for n in range(1, 4)]
    await create_pool(client, site["id"], target_number=TARGET, numbers=pool_numbers)
    source = {
        "number": f"{block}0101",
        "kind": "source",
        "target_number": TARGET,
        "source": "yandex",
        "medium": "cpc",
        "campaign": "spring-sale",
    }
    response = await client.post(f"/api/v1/sites/{site['id']}/static-numbers", json=source)
    assert response.status_code == 201, response.text
    pbx = (
        await client.post(f"/api/v1/sites/{site['id']}/pbx", json={"provider": "generic"})
    ).json()
    return {"site": site, "pbx": pbx, "source_number": source["number"]}


async def _webhook(client: AsyncClient, world: dict[str, Any], clock: ManualClock) -> Any:
    body = json.dumps(
        {
            "event": "call.started",
            "call_id": f"call-{uuid.uuid4().hex[:8]}",
            "caller": "+79001234567",
            "called": world["source_number"],
            "timestamp": clock.now.isoformat(),
        }
    ).encode()
    msg_id, ts = f"msg_{uuid.uuid4().hex}", str(int(clock.now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": sign(world["pbx"]["secret"], msg_id, ts, body),
    }
    return await client.post(f"/hooks/pbx/{world['pbx']['id']}", content=body, headers=headers)


async def _visit(client: AsyncClient, world: dict[str, Any]) -> Any:
    return await client.post(
        f"/t/{world['site']['public_key']}/sessions",
        content=json.dumps({"url": YANDEX_AD}),
        headers=BROWSER,
    )


def _assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert "database" in response.json()["detail"]


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_an_outage_answers_503_and_the_tracker_keeps_serving(
    private_postgres: PrivatePostgres,
    outage_client: AsyncClient,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    client = outage_client
    world = await _world(client)
    assert (await _webhook(client, world, clock)).status_code == 200
    before = await _visit(client, world)
    assert before.status_code == 200
    session_id = before.json()["session_id"]
    assert session_id is not None

    private_postgres.stop() if how == "stop" else private_postgres.kill()
    caplog.clear()
    caplog.set_level(logging.WARNING)

    _assert_unavailable(await _webhook(client, world, clock))
    _assert_unavailable(await client.get("/api/v1/sites"))
    during = await _visit(client, world)
    assert during.status_code == 200, during.text
    assert during.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    numbers = during.json()["numbers"]
    assert numbers == [{"target": TARGET, "number": world["source_number"], "kind": "source"}]
    assert during.json()["session_id"] != session_id
    ping = await client.post(
        f"/t/{world['site']['public_key']}/sessions/{session_id}/ping",
        content="{}",
        headers=BROWSER,
    )
    _assert_unavailable(ping)
    assert ping.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    health = await client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["database"]["ok"] is False

    # One warning line per failed request, no traceback, no statement parameters.
    outage_lines = [r for r in caplog.records if r.name == "app.outages"]
    assert len(outage_lines) == 4
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in outage_lines)
    assert not [r for r in caplog.records if r.exc_info is not None]
    assert all(world["source_number"] not in r.getMessage() for r in caplog.records)

    private_postgres.start()
    # The pool's connections died with the server: the first request may still meet one
    # (a 503, which the PBX retries); from then on it is served.
    statuses = [(await _webhook(client, world, clock)).status_code for _ in range(3)]
    assert statuses[-1] == 200
    assert set(statuses) <= {200, 503}
    assert (await client.get("/api/v1/sites")).status_code == 200
    after = await _visit(client, world)
    assert after.status_code == 200
    recorded = after.json()["session_id"]
    ping_after = await client.post(
        f"/t/{world['site']['public_key']}/sessions/{recorded}/ping",
        content="{}",
        headers=BROWSER,
    )
    assert ping_after.status_code == 200, ping_after.text
    assert (await client.get("/healthz")).status_code == 200
