"""Ad-cost uploads over HTTP, CSV and JSON, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import AdCost
from tests.factories import create_site

HEADER = "date,source,medium,campaign,cost,currency\n"
GOOD = (
    HEADER
    + "2026-11-01,yandex,cpc,sofas,1500.50,RUB\n"
    + "2026-11-01,google,cpc,,900,rub\n"
    + "2026-11-02,Yandex,CPC,sofas,1 200,RUB\n"
)


@pytest.fixture
async def site(client: AsyncClient) -> dict[str, Any]:
    return await create_site(client)


async def upload(
    client: AsyncClient, site: dict[str, Any], body: str, *, dry_run: bool = False
) -> Response:
    return await client.post(
        f"/api/v1/sites/{site['id']}/costs",
        content=body.encode(),
        headers={"Content-Type": "text/csv; charset=utf-8"},
        params={"dry_run": "true"} if dry_run else {},
    )


async def listing(client: AsyncClient, site: dict[str, Any], **params: str) -> list[Any]:
    response = await client.get(f"/api/v1/sites/{site['id']}/costs", params=params)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def stored(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(AdCost)) or 0)


async def test_a_good_csv_is_stored(client: AsyncClient, site: dict[str, Any]) -> None:
    response = await upload(client, site, GOOD)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["dry_run"], body["inserted"], body["updated"]) == (False, 3, 0)
    items = await listing(client, site, **{"from": "2026-11-01", "to": "2026-11-30"})
    assert items == [
        {
            "date": "2026-11-01",
            "source": "google",
            "medium": "cpc",
            "campaign": None,
            "term": None,
            "cost": 900.0,
            "currency": "RUB",
            "account_id": None,
        },
        {
            "date": "2026-11-01",
            "source": "yandex",
            "medium": "cpc",
            "campaign": "sofas",
            "term": None,
            "cost": 1500.5,
            "currency": "RUB",
            "account_id": None,
        },
        {
            "date": "2026-11-02",
            "source": "yandex",
            "medium": "cpc",
            "campaign": "sofas",
            "term": None,
            "cost": 1200.0,
            "currency": "RUB",
            "account_id": None,
        },
    ]
    only_the_2nd = await listing(client, site, **{"from": "2026-11-02", "to": "2026-11-02"})
    assert [i["date"] for i in only_the_2nd] == ["2026-11-02"]


async def test_a_bad_row_is_422_naming_row_and_column_and_nothing_is_kept(
    client: AsyncClient, site: dict[str, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    body = (
        HEADER + "2026-11-01,yandex,cpc,sofas,1500,RUB\n" + "2026-11-02,yandex,cpc,sofas,abc,RUB\n"
    )

    response = await upload(client, site, body)

    assert response.status_code == 422
    # The header is row 1, as a spreadsheet numbers it: the bad cost is on row 3.
    assert response.json()["detail"] == "row 3, column cost: 'abc' is not a number"
    assert await stored(sessionmaker) == 0


async def test_every_bad_cell_is_reported(client: AsyncClient, site: dict[str, Any]) -> None:
    body = (
        HEADER
        + "01/11/2026,yandex,cpc,sofas,-5,RUB\n"
        + "2026-11-02,,cpc,sofas,10,rubles\n"
        + "2026-11-03,vk,social,,10,RUB,extra\n"
    )

    response = await upload(client, site, body)

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "row 2, column date: '01/11/2026' is not a date (2026-11-01 or 01.11.2026); "
        "row 2, column cost: '-5' is negative; "
        "row 3, column source: is required; "
        "row 3, column currency: 'rubles' is not a three-letter ISO 4217 code such as RUB; "
        "row 4: has 7 cells, the header 6"
    )


async def test_a_reupload_updates_the_same_day_and_channel(
    client: AsyncClient, site: dict[str, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    assert (await upload(client, site, GOOD)).status_code == 200

    again = await upload(
        client,
        site,
        HEADER + "2026-11-01,yandex,cpc,sofas,2000,RUB\n" + "2026-11-03,yandex,cpc,sofas,10,RUB\n",
    )

    assert again.status_code == 200, again.text
    assert (again.json()["inserted"], again.json()["updated"]) == (1, 1)
    assert await stored(sessionmaker) == 4
    items = await listing(client, site, **{"from": "2026-11-01", "to": "2026-11-01"})
    assert {(i["source"], i["cost"]) for i in items} == {("yandex", 2000.0), ("google", 900.0)}


async def test_a_dry_run_parses_and_stores_nothing(
    client: AsyncClient, site: dict[str, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    assert (
        await upload(client, site, HEADER + "2026-11-01,google,cpc,,100,RUB\n")
    ).status_code == 200

    preview = await upload(client, site, GOOD, dry_run=True)

    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert (body["dry_run"], body["inserted"], body["updated"]) == (True, 2, 1)
    assert [r["cost"] for r in body["rows"]] == [1500.5, 900.0, 1200.0]
    assert body["rows"][2]["source"] == "yandex"  # lower-cased as visits are
    assert await stored(sessionmaker) == 1
    [kept] = await listing(client, site, **{"from": "2026-11-01", "to": "2026-11-01"})
    assert kept["cost"] == 100.0


async def test_a_bad_row_in_a_dry_run_is_the_same_422(
    client: AsyncClient, site: dict[str, Any]
) -> None:
    response = await upload(client, site, HEADER + "2026-11-01,yandex,cpc,,x,RUB\n", dry_run=True)
    assert response.status_code == 422
    assert response.json()["detail"] == "row 2, column cost: 'x' is not a number"


async def test_json_rows(client: AsyncClient, site: dict[str, Any]) -> None:
    rows = [
        {
            "date": "2026-11-01",
            "source": "yandex",
            "medium": "cpc",
            "cost": 10.5,
            "currency": "RUB",
        },
        {"date": "2026-11-01", "source": "vk", "cost": "7,25", "currency": "RUB"},
    ]
    ok = await client.post(f"/api/v1/sites/{site['id']}/costs", json=rows)
    wrapped = await client.post(
        f"/api/v1/sites/{site['id']}/costs",
        json={"rows": [{"date": "2026-11-02", "source": "vk", "cost": 1, "currency": "USD"}]},
    )
    bad = await client.post(
        f"/api/v1/sites/{site['id']}/costs",
        json=[rows[0], {"date": "2026-11-01", "source": "vk", "cost": True, "currency": "RUB"}],
    )

    assert ok.status_code == 200, ok.text
    assert [(r["source"], r["medium"], r["cost"]) for r in ok.json()["rows"]] == [
        ("yandex", "cpc", 10.5),
        ("vk", None, 7.25),
    ]
    assert wrapped.status_code == 200, wrapped.text
    assert bad.status_code == 422
    assert bad.json()["detail"] == "row 2, column cost: True is not a number"


@pytest.mark.parametrize(
    ("content_type", "body", "status", "detail"),
    [
        (
            "text/csv",
            "date,source,cost\n",
            422,
            "row 1, column currency: is missing from the header",
        ),
        ("text/csv", "date,source,costs,currency\n", 422, "row 1, column costs: unknown column"),
        ("text/csv", HEADER, 422, "body: the upload has no cost rows"),
        ("text/csv", "", 422, "body: the CSV is empty"),
        ("application/json", "{", 422, "body: not valid JSON"),
        ("application/json", '{"date": "x"}', 422, "body: expected a JSON array"),
        ("application/xml", "<costs/>", 415, "Content-Type 'application/xml'"),
    ],
)
async def test_malformed_uploads(
    client: AsyncClient,
    site: dict[str, Any],
    content_type: str,
    body: str,
    status: int,
    detail: str,
) -> None:
    response = await client.post(
        f"/api/v1/sites/{site['id']}/costs",
        content=body.encode(),
        headers={"Content-Type": content_type},
    )
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(detail)


async def test_unknown_site_and_anonymous(client: AsyncClient, anonymous: AsyncClient) -> None:
    path = "/api/v1/sites/00000000-0000-0000-0000-000000000000/costs"
    assert (await client.get(path)).status_code == 404
    assert (
        await upload(client, {"id": "00000000-0000-0000-0000-000000000000"}, GOOD)
    ).status_code == 404
    assert (await anonymous.get(path)).status_code == 401


async def test_a_nul_byte_in_a_cell_is_422_naming_row_and_column(
    client: AsyncClient, site: dict[str, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # PostgreSQL refuses NUL in text: this was a 500 at the INSERT.
    csv_response = await upload(client, site, HEADER + "2026-11-01,yan\x00dex,cpc,sofas,1,RUB\n")
    json_response = await client.post(
        f"/api/v1/sites/{site['id']}/costs",
        json=[
            {
                "date": "2026-11-01",
                "source": "ya",
                "campaign": "so\x00fas",
                "cost": 1,
                "currency": "RUB",
            }
        ],
    )

    assert csv_response.status_code == 422
    assert csv_response.json()["detail"] == "row 2, column source: must not contain NUL bytes"
    assert json_response.status_code == 422
    assert json_response.json()["detail"] == "row 1, column campaign: must not contain NUL bytes"
    assert await stored(sessionmaker) == 0


async def test_a_lone_surrogate_in_json_rows_is_422_naming_row_and_column(
    client: AsyncClient, site: dict[str, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # JSON may escape half a surrogate pair; no database can store it (found by Schemathesis
    # as a 500 at the INSERT).
    body = '[{"date": "2026-11-01", "source": "ya\\ud800", "cost": 1, "currency": "RUB"}]'

    response = await client.post(
        f"/api/v1/sites/{site['id']}/costs",
        content=body,
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        "row 1, column source: must be valid Unicode (a lone surrogate is not)"
    )
    assert await stored(sessionmaker) == 0


async def test_an_unknown_column_named_with_a_lone_surrogate_is_still_a_422(
    client: AsyncClient, site: dict[str, Any]
) -> None:
    # The detail quotes the name; JSONResponse could not encode it (a 500, found by Schemathesis).
    body = '[{"date": "2026-11-01", "source": "ya", "cost": 1, "currency": "RUB", "x\\udc00": 1}]'

    response = await client.post(
        f"/api/v1/sites/{site['id']}/costs",
        content=body,
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["detail"] == "row 1, column x?: unknown field"


async def test_a_cost_beyond_decimal_precision_is_422(
    client: AsyncClient, site: dict[str, Any]
) -> None:
    # Quantizing 1e30 to cents raised InvalidOperation: a 500 (found by Schemathesis).
    response = await upload(client, site, HEADER + "2026-11-01,yandex,cpc,sofas,1e30,RUB\n")

    assert response.status_code == 422
    assert response.json()["detail"] == "row 2, column cost: '1e30' is too large"
