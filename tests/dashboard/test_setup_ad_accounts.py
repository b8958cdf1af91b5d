"""The ad accounts page: connecting each platform with errors beside the field (a secret
never written back), importing now against the stand-in platforms, the last import's status,
and the campaign mapping editor."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.dashboard import service
from app.dashboard.service import Role
from tests.clock import ManualClock
from tests.costs.ad_platforms import YANDEX_TOKEN, FakeAdPlatforms, FakeAdPlatformsServer
from tests.dashboard.conftest import PASSWORD, csrf_of
from tests.dashboard.test_auth import _setup
from tests.factories import create_site


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"outbound_allow": "127.0.0.1"})


@pytest.fixture
async def platforms() -> AsyncIterator[tuple[FakeAdPlatforms, str]]:
    fake = FakeAdPlatforms(yandex_retry_in=0)
    server = FakeAdPlatformsServer(fake)
    await server.start()
    try:
        yield fake, server.url
    finally:
        await server.stop()


async def _page(visitor: AsyncClient, site: dict[str, Any]) -> str:
    page = await visitor.get(f"/sites/{site['id']}/ad-accounts")
    assert page.status_code == 200, page.text
    return page.text


async def test_each_platform_asks_only_for_its_own_fields(
    visitor: AsyncClient, client: AsyncClient
) -> None:
    await _setup(visitor)
    site = await create_site(client)
    html = await _page(visitor, site)
    google = html[
        html.index('data-testid="connect-google_ads"') : html.index('data-platform="vk_ads"')
    ]
    assert 'name="developer_token"' in google
    assert 'name="refresh_token"' in google
    assert "API Center" in google  # where to find it
    assert 'name="client_login"' not in google
    yandex = html[
        html.index('data-testid="connect-yandex_direct"') : html.index('data-platform="google_ads"')
    ]
    assert 'name="client_login"' in yandex
    assert 'name="developer_token"' not in yandex
    costs = await visitor.get(f"/sites/{site['id']}/costs")
    assert f"/sites/{site['id']}/ad-accounts" in costs.text


async def test_connect_import_and_map_from_the_dashboard(
    visitor: AsyncClient, client: AsyncClient, platforms: Any
) -> None:
    fake, base = platforms
    fake.yandex_rows = [
        ("2026-11-01", "Диваны", "диван", "100"),
        ("2026-11-02", "brand", "--", "5"),
    ]
    await _setup(visitor)
    site = await create_site(client)
    token = csrf_of(await _page(visitor, site))

    missing = await visitor.post(
        f"/sites/{site['id']}/ad-accounts/connect",
        data={"csrf_token": token, "kind": "yandex_direct", "client_login": "shop"},
    )
    assert missing.status_code == 422
    assert 'data-error="token"' in missing.text
    private = await visitor.post(
        f"/sites/{site['id']}/ad-accounts/connect",
        data={
            "csrf_token": token,
            "kind": "yandex_direct",
            "token": "s3cr3t-t0k",
            "api_base": "http://10.1.2.3",
        },
    )
    assert private.status_code == 422
    assert 'data-error="api_base"' in private.text
    assert "s3cr3t-t0k" not in private.text  # a secret is never written back
    assert (await client.get(f"/api/v1/sites/{site['id']}/ad-accounts")).json()["items"] == []

    connected = await visitor.post(
        f"/sites/{site['id']}/ad-accounts/connect",
        data={
            "csrf_token": token,
            "kind": "yandex_direct",
            "token": YANDEX_TOKEN,
            "api_base": base,
            "name": "Direct",
        },
    )
    assert connected.status_code == 303, connected.text
    [account] = (await client.get(f"/api/v1/sites/{site['id']}/ad-accounts")).json()["items"]
    html = await _page(visitor, site)
    assert "Not imported yet" in html

    imported = await visitor.post(
        f"/sites/{site['id']}/ad-accounts/{account['id']}/import", data={"csrf_token": token}
    )
    assert imported.status_code == 303
    assert imported.headers["location"].endswith("?imported=2")
    html = (await visitor.get(imported.headers["location"])).text
    assert "2 cost rows imported." in html
    assert "Last import" in html

    saved = await visitor.post(
        f"/sites/{site['id']}/ad-accounts/{account['id']}/mappings",
        data={"csrf_token": token, "platform_campaign": "Диваны", "utm_campaign": "sofas"},
    )
    assert saved.status_code == 303
    html = await _page(visitor, site)
    assert "data-mapping=" in html
    assert ">sofas<" in html
    costs = await client.get(
        f"/api/v1/sites/{site['id']}/costs", params={"from": "2026-11-01", "to": "2026-11-02"}
    )
    assert sorted(c["campaign"] for c in costs.json()["items"]) == ["brand", "sofas"]

    error = {
        "request_id": "1",
        "error_code": 53,
        "error_string": "Authorization error",
        "error_detail": "Token revoked",
    }
    fake.fail("yandex", 400, {"error": error})
    failed = await visitor.post(
        f"/sites/{site['id']}/ad-accounts/{account['id']}/import", data={"csrf_token": token}
    )
    assert failed.status_code == 502
    assert 'data-testid="import-now-error"' in failed.text
    assert "Token revoked" in failed.text
    # The status stays for the next visit.
    assert "Token revoked" in await _page(visitor, site)


async def test_forms_need_the_csrf_token(visitor: AsyncClient, client: AsyncClient) -> None:
    await _setup(visitor)
    site = await create_site(client)
    response = await visitor.post(
        f"/sites/{site['id']}/ad-accounts/connect", data={"kind": "yandex_direct", "token": "t"}
    )
    assert response.status_code in (400, 403)
    assert (await client.get(f"/api/v1/sites/{site['id']}/ad-accounts")).json()["items"] == []


async def test_viewers_see_the_accounts_but_no_forms(
    visitor: AsyncClient, client: AsyncClient, db: AsyncSession, clock: ManualClock
) -> None:
    await _setup(visitor)
    site = await create_site(client)
    created = await client.post(
        f"/api/v1/sites/{site['id']}/ad-accounts",
        json={"kind": "yandex_direct", "token": YANDEX_TOKEN, "name": "Direct"},
    )
    assert created.status_code == 201
    await service.create_user(
        db,
        email="viewer@shop.example",
        password=PASSWORD,
        role=Role.VIEWER,
        site_ids=(uuid.UUID(site["id"]),),
        now=clock.now,
    )
    await db.commit()
    token = csrf_of((await visitor.get("/account")).text)
    await visitor.post("/logout", data={"csrf_token": token})
    token = csrf_of((await visitor.get("/login")).text)
    signed = await visitor.post(
        "/login", data={"csrf_token": token, "email": "viewer@shop.example", "password": PASSWORD}
    )
    assert signed.status_code == 303

    html = await _page(visitor, site)
    assert 'data-testid="ad-account"' in html
    assert '<form method="post" action="/sites/' not in html
    account_id = created.json()["id"]
    for path, data in (
        ("connect", {"kind": "yandex_direct", "token": "t"}),
        (f"{account_id}/import", {}),
        (f"{account_id}/mappings", {"platform_campaign": "a", "utm_campaign": "b"}),
        (f"{account_id}/retire", {}),
    ):
        response = await visitor.post(
            f"/sites/{site['id']}/ad-accounts/{path}", data={"csrf_token": token, **data}
        )
        assert response.status_code == 403, path
