"""No draining, through the HTTP API: a dynamic number goes only to a browser on the site's
pages, a few live leases per client address; the others get the source-level or target
number and are counted in pool health and /metrics. Forwarded headers count only from
CALLSOURCE_TRUSTED_PROXIES."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from app.config import ConfigError, Settings
from app.main import create_app
from tests.clock import ManualClock
from tests.conftest import TEST_ADMIN_TOKEN
from tests.factories import create_pool, create_site

BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
ORIGIN = "https://shop.example"
TARGET = "+74951234567"
SOURCE_NUMBER = "+74950000101"
POOL = [f"+7 495 000-00-0{n}" for n in range(1, 7)]


@pytest.fixture
async def site(client: AsyncClient) -> dict[str, Any]:
    site = await create_site(client)
    pool = await create_pool(client, site["id"], numbers=POOL)
    static = await client.post(
        f"/api/v1/sites/{site['id']}/static-numbers",
        json={
            "number": SOURCE_NUMBER,
            "kind": "source",
            "target_number": TARGET,
            "source": "google",
            "medium": "organic",
        },
    )
    assert static.status_code == 201
    return {**site, "pool_id": pool["id"]}


async def start(http: AsyncClient, site: dict[str, Any], **headers: str) -> Response:
    sent = {"Content-Type": "text/plain", "User-Agent": BROWSER, "Origin": ORIGIN}
    sent.update(headers)
    body = {"url": "https://shop.example/", "referrer": "https://www.google.com/"}
    return await http.post(
        f"/t/{site['public_key']}/sessions",
        content=json.dumps(body),
        headers={k: v for k, v in sent.items() if v},
    )


def kind(response: Response) -> str:
    assert response.status_code == 200, response.text
    [shown] = response.json()["numbers"]
    return str(shown["kind"])


async def refused(client: AsyncClient, site: dict[str, Any], clock: ManualClock) -> dict[str, int]:
    clock.advance(seconds=1)  # the health window ends just before `now`
    health = await client.get(f"/api/v1/sites/{site['id']}/pools/{site['pool_id']}/health")
    assert health.status_code == 200, health.text
    counts: dict[str, int] = health.json()["refused_sessions"]
    return counts


async def test_a_request_without_the_sites_origin_or_referer_gets_the_source_number(
    anonymous: AsyncClient, client: AsyncClient, site: dict[str, Any], clock: ManualClock
) -> None:
    response = await start(anonymous, site, Origin="")
    assert kind(response) == "source"
    assert response.json()["numbers"][0]["number"] == SOURCE_NUMBER
    session_id = response.json()["session_id"]
    assert session_id is not None  # the visit is still recorded
    # Its pings never lease either, even with the site's Origin.
    ping = await anonymous.post(
        f"/t/{site['public_key']}/sessions/{session_id}/ping",
        content="{}",
        headers={"Content-Type": "text/plain", "User-Agent": BROWSER, "Origin": ORIGIN},
    )
    assert kind(ping) == "source"
    foreign_referer = await start(anonymous, site, Origin="", Referer="https://evil.example/x")
    assert kind(foreign_referer) == "source"
    counts = await refused(client, site, clock)
    assert counts["not_on_site"] == 2
    health = await client.get(f"/api/v1/sites/{site['id']}/pools/{site['pool_id']}/health")
    assert health.json()["sessions"] == 0  # a flood does not make the pool look too small


async def test_the_sites_referer_alone_is_enough(
    anonymous: AsyncClient, site: dict[str, Any]
) -> None:
    response = await start(anonymous, site, Origin="", Referer="https://m.shop.example/page")
    assert kind(response) == "dynamic"


async def test_a_user_agent_no_browser_sends_gets_the_source_number(
    anonymous: AsyncClient, client: AsyncClient, site: dict[str, Any], clock: ManualClock
) -> None:
    response = await start(anonymous, site, **{"User-Agent": "Opera/9.80 (X11; Linux) Presto"})
    assert kind(response) == "source"
    assert (await refused(client, site, clock))["not_a_browser"] == 1
    assert kind(await start(anonymous, site)) == "dynamic"


async def test_one_address_holds_at_most_three_live_leases(
    anonymous: AsyncClient, client: AsyncClient, site: dict[str, Any], clock: ManualClock
) -> None:
    kinds = [kind(await start(anonymous, site)) for _ in range(5)]
    assert kinds == ["dynamic", "dynamic", "dynamic", "source", "source"]
    assert (await refused(client, site, clock))["address_cap"] == 2
    metrics = await client.get("/metrics")
    line = (
        f'callsource_pool_refused_sessions{{pool_id="{site["pool_id"]}",reason="address_cap"}} 2.0'
    )
    assert line in metrics.text


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    anonymous: AsyncClient, site: dict[str, Any]
) -> None:
    kinds = [
        kind(await start(anonymous, site, **{"X-Forwarded-For": f"198.51.{n}.1"})) for n in range(4)
    ]
    assert kinds == ["dynamic", "dynamic", "dynamic", "source"]


@pytest.fixture
async def behind_proxy(
    settings: Settings, clock: ManualClock, app: FastAPI
) -> AsyncIterator[AsyncClient]:
    """A second app on the same database and clock whose peer (127.0.0.1) is trusted."""
    trusting = create_app(
        settings.model_copy(update={"trusted_proxies": "127.0.0.0/8"}), clock=clock
    )
    async with trusting.router.lifespan_context(trusting):
        transport = ASGITransport(app=trusting)
        headers = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}
        async with AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as http:
            yield http


async def test_a_trusted_proxy_names_the_client(
    behind_proxy: AsyncClient, site: dict[str, Any]
) -> None:
    kinds = [
        kind(await start(behind_proxy, site, **{"X-Forwarded-For": f"1.2.3.4, 198.51.{n}.1"}))
        for n in range(4)
    ]
    assert kinds == ["dynamic"] * 4
    # The spoofed left-hand entry is not believed: the same last hop is one client.
    same = [
        kind(await start(behind_proxy, site, **{"X-Forwarded-For": f"10.0.0.{n}, 192.0.2.1"}))
        for n in range(2)
    ]
    assert same == ["dynamic", "dynamic"]
    assert kind(await start(behind_proxy, site, **{"X-Forwarded-For": "192.0.2.1"})) == "source"


def test_trusted_proxies_parse_and_refuse_bad_entries(settings: Settings) -> None:
    parsed = settings.model_copy(update={"trusted_proxies": " 10.0.0.1, 192.168.0.0/16,::1 "})
    assert [str(n) for n in parsed.trusted_proxy_networks()] == [
        "10.0.0.1/32",
        "192.168.0.0/16",
        "::1/128",
    ]
    assert settings.trusted_proxy_networks() == ()
    with pytest.raises(ConfigError, match=re.escape("'proxy.example'")):
        settings.model_copy(update={"trusted_proxies": "proxy.example"}).trusted_proxy_networks()
    with pytest.raises(ConfigError, match=re.escape("did you mean 10.0.0.0/8")):
        settings.model_copy(update={"trusted_proxies": "10.0.0.1/8"}).trusted_proxy_networks()
    with pytest.raises(ConfigError):
        create_app(settings.model_copy(update={"trusted_proxies": "10.0.0.0/33"}))
