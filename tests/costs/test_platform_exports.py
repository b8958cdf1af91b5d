"""Cost uploads in the platforms' own report exports: Yandex Direct's report wizard and Google
Ads' downloaded reports, with their title lines, totals and extra columns, in Russian, English
and Spanish; and Callsource's own columns with a keyword."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient

from app.costs.parsing import CostRow, CostRowsInvalid, parse_csv
from tests.factories import create_site

YANDEX_RU = (
    '"Статистика по кампаниям с 01.11.2026 по 02.11.2026"\n'
    "День;Кампания;Условие показа;Показы;Клики;Расход (руб.)\n"
    "01.11.2026;Диваны Москва;купить диван -дешево;1200;40;1 500,50\n"
    "01.11.2026;Диваны Москва;--;300;2;99,50\n"
    "02.11.2026;Бренд;бренд магазин;100;10;300\n"
    "Итого;;;1600;52;1 900,00\n"
)
YANDEX_EN = (
    "Date\tCampaign\tKeyword\tImpressions\tClicks\tCost (RUB)\n"
    "2026-11-01\tSofas\tbuy sofa\t10\t1\t120.00\n"
)
GOOGLE_EN = (
    "Search keyword report\n"
    '"November 1, 2026 - November 2, 2026"\n'
    "Day,Campaign,Ad group,Keyword,Currency code,Cost,Clicks\n"
    '2026-11-01,Search Sofas,Group A,buy sofa,USD,"1,234.56",10\n'
    "2026-11-01,Search Sofas,Group B,buy sofa,USD,5.44,1\n"
    "2026-11-02,Search Sofas,Group A,sofa bed,USD,0.00,0\n"
    'Total: Account,,,,USD,"1,240.00",11\n'
)
GOOGLE_RU = (
    "День,Кампания,Группа объявлений,Ключевое слово,Код валюты,Стоимость\n"
    '2026-11-01,Диваны,Группа 1,диван,RUB,"1 000,00"\n'
)
GOOGLE_ES = "Día;Campaña;Palabra clave;Coste\n2026-11-01;Sofás;sofá barato;12,50\n"


def test_yandex_report_wizard_in_russian() -> None:
    assert parse_csv(YANDEX_RU, default_currency="EUR") == [
        CostRow(
            date(2026, 11, 1),
            "yandex",
            "cpc",
            "Диваны Москва",
            Decimal("1500.50"),
            "RUB",
            "купить диван",
        ),
        CostRow(date(2026, 11, 1), "yandex", "cpc", "Диваны Москва", Decimal("99.50"), "RUB", ""),
        CostRow(
            date(2026, 11, 2), "yandex", "cpc", "Бренд", Decimal("300.00"), "RUB", "бренд магазин"
        ),
    ]


def test_yandex_export_in_english_with_tabs() -> None:
    assert parse_csv(YANDEX_EN) == [
        CostRow(date(2026, 11, 1), "yandex", "cpc", "Sofas", Decimal("120.00"), "RUB", "buy sofa")
    ]


def test_google_report_sums_a_keyword_across_ad_groups() -> None:
    assert parse_csv(GOOGLE_EN) == [
        CostRow(
            date(2026, 11, 1),
            "google",
            "cpc",
            "Search Sofas",
            Decimal("1240.00"),
            "USD",
            "buy sofa",
        ),
        CostRow(
            date(2026, 11, 2), "google", "cpc", "Search Sofas", Decimal("0.00"), "USD", "sofa bed"
        ),
    ]


def test_google_report_in_russian_and_spanish() -> None:
    assert parse_csv(GOOGLE_RU) == [
        CostRow(date(2026, 11, 1), "google", "cpc", "Диваны", Decimal("1000.00"), "RUB", "диван")
    ]
    # No currency column: the site's.
    assert parse_csv(GOOGLE_ES, default_currency="EUR") == [
        CostRow(date(2026, 11, 1), "google", "cpc", "Sofás", Decimal("12.50"), "EUR", "sofá barato")
    ]


def test_an_export_that_names_no_platform_needs_a_source_column() -> None:
    with pytest.raises(CostRowsInvalid) as invalid:
        parse_csv("Дата,Кампания,Cost\n2026-11-01,Sofas,10\n", default_currency="RUB")
    assert invalid.value.detail.startswith("row 1, column source: cannot tell which platform")
    with_source = "Дата,Source,Кампания,Cost\n2026-11-01,vk,Sofas,10\n"
    assert parse_csv(with_source, default_currency="RUB")[0].source == "vk"


def test_a_bad_row_in_an_export_names_its_line_and_column() -> None:
    bad = GOOGLE_RU + "2026-13-01,Диваны,Группа 1,диван,RUB,10\n"
    with pytest.raises(CostRowsInvalid) as invalid:
        parse_csv(bad)
    assert invalid.value.detail.startswith("row 3, column date:")


def test_own_columns_take_a_term() -> None:
    text = (
        "date,source,medium,campaign,term,cost,currency\n2026-11-01,yandex,cpc,sofas,диван,10,RUB\n"
    )
    assert parse_csv(text)[0].term == "диван"


@pytest.fixture
async def site(client: AsyncClient) -> dict[str, Any]:
    return await create_site(client)


async def test_an_export_uploads_as_it_is(client: AsyncClient, site: dict[str, Any]) -> None:
    response = await client.post(
        f"/api/v1/sites/{site['id']}/costs",
        content=YANDEX_RU.encode("cp1251"),  # as Excel in Russian saves it
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["inserted"] == 3
    again = await client.post(
        f"/api/v1/sites/{site['id']}/costs",
        content=YANDEX_RU.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert (again.json()["inserted"], again.json()["updated"]) == (0, 3)
    listed = await client.get(
        f"/api/v1/sites/{site['id']}/costs", params={"from": "2026-11-01", "to": "2026-11-02"}
    )
    assert len(listed.json()["items"]) == 3
