"""Ad accounts over the admin API, on SQLite and PostgreSQL: credentials write-only and sealed,
imports that replace their days (never doubling them), campaign mappings, failures that
leave a clear status on the account, and the spend in the sources report by keyword."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.models import AdCost
from tests.costs.ad_platforms import (
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    GOOGLE_DEVELOPER_TOKEN,
    GOOGLE_REFRESH_TOKEN,
    YANDEX_TOKEN,
    FakeAdPlatforms,
    FakeAdPlatformsServer,
)
from tests.factories import create_site


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The stand-ins listen on loopback, which accounts reach only when it is allowed.
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


@pytest.fixture
async def site(client: AsyncClient) -> dict[str, Any]:
    return await create_site(client)


async def connect_yandex(
    client: AsyncClient, site: dict[str, Any], base: str, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/sites/{site['id']}/ad-accounts",
        json={"kind": "yandex_direct", "token": YANDEX_TOKEN, "api_base": base, **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def run_import(
    client: AsyncClient, site: dict[str, Any], account: dict[str, Any], **params: str
) -> Any:
    return await client.post(
        f"/api/v1/sites/{site['id']}/ad-accounts/{account['id']}/import",
        params={"from": "2026-11-01", "to": "2026-11-03", **params},
    )


async def stored(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[Any, ...]]:
    async with sessionmaker() as db:
        rows = await db.execute(
            select(
                AdCost.day, AdCost.source, AdCost.medium, AdCost.campaign, AdCost.term, AdCost.cost
            ).order_by(AdCost.day, AdCost.campaign, AdCost.term)
        )
        return [(str(d), s, m, c, t, float(x)) for d, s, m, c, t, x in rows.all()]


async def test_credentials_are_write_only_and_sealed(
    client: AsyncClient, site: dict[str, Any], platforms: Any, db: AsyncSession
) -> None:
    _, base = platforms
    body = await connect_yandex(client, site, base, client_login="shop-client", name="Direct")

    assert body["kind"] == "yandex_direct"
    assert body["config"] == {"api_base": base, "client_login": "shop-client", "currency": "RUB"}
    assert YANDEX_TOKEN not in str(body)
    listed = (await client.get(f"/api/v1/sites/{site['id']}/ad-accounts")).json()["items"]
    assert [a["id"] for a in listed] == [body["id"]]
    assert YANDEX_TOKEN not in str(listed)
    raw = (await db.execute(text("SELECT credentials FROM ad_accounts"))).scalar_one()
    assert YANDEX_TOKEN not in raw
    assert raw.startswith("gAAAA")  # a Fernet token


async def test_google_and_vk_take_their_own_fields(
    client: AsyncClient, site: dict[str, Any], platforms: Any
) -> None:
    _, base = platforms
    google = await client.post(
        f"/api/v1/sites/{site['id']}/ad-accounts",
        json={
            "kind": "google_ads",
            "developer_token": GOOGLE_DEVELOPER_TOKEN,
            "client_id": GOOGLE_CLIENT_ID,
            "client_secret": GOOGLE_CLIENT_SECRET,
            "refresh_token": GOOGLE_REFRESH_TOKEN,
            "customer_id": "123-456-7890",
            "login_customer_id": "987-654-3210",
            "api_base": base,
        },
    )
    assert google.status_code == 201, google.text
    assert google.json()["config"]["customer_id"] == "1234567890"
    assert GOOGLE_REFRESH_TOKEN not in google.text
    assert GOOGLE_CLIENT_SECRET not in google.text

    vk = await client.post(
        f"/api/v1/sites/{site['id']}/ad-accounts",
        json={"kind": "vk_ads", "client_id": "c", "client_secret": "s", "account_id": "42"},
    )
    assert vk.status_code == 201, vk.text
    half = await client.post(
        f"/api/v1/sites/{site['id']}/ad-accounts",
        json={"kind": "vk_ads", "client_id": "c", "account_id": "42"},
    )
    assert half.status_code == 422
    assert "client_secret" in half.text
    bad = await client.post(
        f"/api/v1/sites/{site['id']}/ad-accounts",
        json={"kind": "google_ads", "developer_token": "d", "client_id": "c", "client_secret": "s",
              "refresh_token": "r", "customer_id": "12"},
    )  # fmt: skip
    assert bad.status_code == 422
    assert "customer_id" in bad.text


async def test_api_base_obeys_the_outbound_rules(
    client: AsyncClient, site: dict[str, Any], settings: Settings
) -> None:
    response = await client.post(
        f"/api/v1/sites/{site['id']}/ad-accounts",
        json={"kind": "yandex_direct", "token": "t", "api_base": "http://10.0.0.5:8080"},
    )
    assert response.status_code == 422
    assert "api_base" in response.json()["detail"]
    assert "private" in response.json()["detail"]
    listed = (await client.get(f"/api/v1/sites/{site['id']}/ad-accounts")).json()["items"]
    assert listed == []


async def test_import_answers_rows_per_day_and_reimport_replaces(
    client: AsyncClient,
    site: dict[str, Any],
    platforms: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    fake, base = platforms
    fake.yandex_polls = 2  # built offline: 201, 202, then the report
    fake.yandex_rows = [
        ("2026-11-01", "sofas", "купить диван", "1000"),
        ("2026-11-01", "sofas", "--", "200"),
        ("2026-11-02", "brand", "--", "300"),
    ]
    account = await connect_yandex(client, site, base)

    response = await run_import(client, site, account)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rows"] == 3
    assert body["days"] == [
        {"date": "2026-11-01", "rows": 2, "cost": 1200.0},
        {"date": "2026-11-02", "rows": 1, "cost": 300.0},
        {"date": "2026-11-03", "rows": 0, "cost": 0.0},
    ]
    first = await stored(sessionmaker)
    assert first == [
        ("2026-11-01", "yandex", "cpc", "sofas", "", 200.0),
        ("2026-11-01", "yandex", "cpc", "sofas", "купить диван", 1000.0),
        ("2026-11-02", "yandex", "cpc", "brand", "", 300.0),
    ]

    # The same days again: the same rows, not twice as many.
    assert (await run_import(client, site, account)).status_code == 200
    assert await stored(sessionmaker) == first

    # The platform revised a day, and another went to nothing: the import follows.
    fake.yandex_rows = [
        ("2026-11-01", "sofas", "купить диван", "900"),
        ("2026-11-03", "brand", "--", "50"),
    ]
    assert (await run_import(client, site, account)).status_code == 200
    assert await stored(sessionmaker) == [
        ("2026-11-01", "yandex", "cpc", "sofas", "купить диван", 900.0),
        ("2026-11-03", "yandex", "cpc", "brand", "", 50.0),
    ]
    shown = (await client.get(f"/api/v1/sites/{site['id']}/ad-accounts/{account['id']}")).json()
    assert (shown["last_import_status"], shown["last_import_rows"]) == ("ok", 2)


async def test_uploaded_costs_stay_beside_imported_ones(
    client: AsyncClient,
    site: dict[str, Any],
    platforms: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    fake, base = platforms
    fake.yandex_rows = [("2026-11-01", "sofas", "--", "100")]
    account = await connect_yandex(client, site, base)
    upload = await client.post(
        f"/api/v1/sites/{site['id']}/costs",
        content=b"date,source,medium,campaign,cost,currency\n2026-11-01,yandex,cpc,sofas,70,RUB\n",
        headers={"Content-Type": "text/csv"},
    )
    assert upload.status_code == 200, upload.text
    assert (await run_import(client, site, account)).status_code == 200
    assert (await run_import(client, site, account)).status_code == 200
    async with sessionmaker() as db:
        total = await db.scalar(select(func.sum(AdCost.cost)))
        imported = await db.scalar(select(func.count()).where(AdCost.account_id.is_not(None)))
    assert (float(total or 0), imported) == (170.0, 1)


async def test_a_refusal_leaves_a_clear_status_and_the_spend(
    client: AsyncClient,
    site: dict[str, Any],
    platforms: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    fake, base = platforms
    fake.yandex_rows = [("2026-11-01", "sofas", "--", "100")]
    account = await connect_yandex(client, site, base)
    assert (await run_import(client, site, account)).status_code == 200

    error = {
        "request_id": "1",
        "error_code": 53,
        "error_string": "Authorization error",
        "error_detail": "Token expired",
    }
    fake.fail("yandex", 400, {"error": error})
    refused = await run_import(client, site, account)
    assert refused.status_code == 502
    assert "Token expired" in refused.json()["detail"]
    shown = (await client.get(f"/api/v1/sites/{site['id']}/ad-accounts/{account['id']}")).json()
    assert shown["last_import_status"] == "failed"
    assert "Authorization error" in shown["last_import_error"]
    assert len(await stored(sessionmaker)) == 1  # what was imported stays

    fake.fail(
        "yandex", 500, {"error": {**error, "error_code": 1000, "error_string": "Server down"}}
    )
    busy = await run_import(client, site, account)
    assert busy.status_code == 503
    assert busy.headers["Retry-After"]
    shown = (await client.get(f"/api/v1/sites/{site['id']}/ad-accounts/{account['id']}")).json()
    assert shown["last_import_status"] == "busy"


async def test_bad_periods_are_422_naming_the_field(
    client: AsyncClient, site: dict[str, Any], platforms: Any
) -> None:
    _, base = platforms
    account = await connect_yandex(client, site, base)
    for params, field in (
        ({"from": "2026-11-05", "to": "2026-11-01"}, "to"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-01-01", "to": "2026-11-01"}, "from"),
    ):
        response = await run_import(client, site, account, **params)
        assert response.status_code == 422, params
        assert response.json()["detail"].startswith(field), response.text


async def test_mapping_books_a_campaign_under_its_utm_campaign(
    client: AsyncClient,
    site: dict[str, Any],
    platforms: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    fake, base = platforms
    fake.yandex_rows = [
        ("2026-11-01", "Диваны Москва", "диван", "100"),
        ("2026-11-02", "brand", "--", "5"),
    ]
    account = await connect_yandex(client, site, base)
    assert (await run_import(client, site, account)).status_code == 200

    url = f"/api/v1/sites/{site['id']}/ad-accounts/{account['id']}/mappings"
    put = await client.put(
        url, json={"platform_campaign": "Диваны Москва", "utm_campaign": "sofas_msk"}
    )
    assert put.status_code == 200, put.text
    # What is stored moves at once, and the next import keeps to it.
    assert [r[3] for r in await stored(sessionmaker)] == ["sofas_msk", "brand"]
    assert (await run_import(client, site, account)).status_code == 200
    assert [r[3] for r in await stored(sessionmaker)] == ["sofas_msk", "brand"]
    assert (await client.get(url)).json()["items"] == [
        {"id": put.json()["id"], "platform_campaign": "Диваны Москва", "utm_campaign": "sofas_msk"}
    ]

    report = await client.get(
        f"/api/v1/sites/{site['id']}/reports/sources",
        params={"from": "2026-11-01", "to": "2026-11-30", "group_by": "term"},
    )
    assert report.status_code == 200, report.text
    by_term = {(r["campaign"], r["term"]): r["cost"] for r in report.json()["rows"]}
    assert by_term[("sofas_msk", "диван")] == 100.0

    deleted = await client.delete(f"{url}/{put.json()['id']}")
    assert deleted.status_code == 204
    assert [r[3] for r in await stored(sessionmaker)] == ["Диваны Москва", "brand"]


async def test_retired_accounts_import_no_more(
    client: AsyncClient, site: dict[str, Any], platforms: Any
) -> None:
    _, base = platforms
    account = await connect_yandex(client, site, base)
    retired = await client.delete(f"/api/v1/sites/{site['id']}/ad-accounts/{account['id']}")
    assert retired.status_code == 200
    assert retired.json()["retired_at"] is not None
    assert (await run_import(client, site, account)).status_code == 409
    assert (await client.get(f"/api/v1/sites/{site['id']}/ad-accounts")).json()["items"] == []
    other = await create_site(client, name="Other")
    missing = await client.get(f"/api/v1/sites/{other['id']}/ad-accounts/{account['id']}")
    assert missing.status_code == 404


async def test_a_renewed_token_imports_again(
    client: AsyncClient, site: dict[str, Any], platforms: Any, db: AsyncSession
) -> None:
    fake, base = platforms
    fake.yandex_rows = [("2026-11-01", "sofas", "--", "100")]
    created = await client.post(
        f"/api/v1/sites/{site['id']}/ad-accounts",
        json={"kind": "yandex_direct", "token": "revoked", "api_base": base},
    )
    account = created.json()
    assert (await run_import(client, site, account)).status_code == 502
    url = f"/api/v1/sites/{site['id']}/ad-accounts/{account['id']}"
    wrong = await client.patch(url, json={"refresh_token": "x"})
    assert wrong.status_code == 422
    assert wrong.json()["detail"].startswith("refresh_token")
    renewed = await client.patch(url, json={"token": YANDEX_TOKEN, "name": "Direct"})
    assert renewed.status_code == 200, renewed.text
    assert YANDEX_TOKEN not in renewed.text
    assert renewed.json()["name"] == "Direct"
    raw = (await db.execute(text("SELECT credentials FROM ad_accounts"))).scalar_one()
    assert YANDEX_TOKEN not in raw
    assert (await run_import(client, site, account)).status_code == 200


async def test_reconnecting_the_same_account_does_not_count_its_days_twice(
    client: AsyncClient,
    site: dict[str, Any],
    platforms: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    fake, base = platforms
    fake.yandex_rows = [("2026-11-01", "sofas", "--", "100"), ("2026-11-02", "sofas", "--", "40")]
    first = await connect_yandex(client, site, base, client_login="shop")
    assert (await run_import(client, site, first)).status_code == 200
    await client.delete(f"/api/v1/sites/{site['id']}/ad-accounts/{first['id']}")
    again = await connect_yandex(client, site, base, client_login="shop")
    other = await connect_yandex(client, site, base, client_login="another-client")

    assert (await run_import(client, site, again, to="2026-11-01")).status_code == 200
    # The retired connection's 1 November is replaced; its 2 November, not imported again, stays.
    assert [r[0] for r in await stored(sessionmaker)] == ["2026-11-01", "2026-11-02"]
    assert (await run_import(client, site, other, to="2026-11-01")).status_code == 200
    assert len(await stored(sessionmaker)) == 3  # another client's spend is its own
