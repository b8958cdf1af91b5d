"""Cost files as people and ad platforms write them, parsed without a database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from app.costs.parsing import (
    MAX_REPORTED,
    CostRow,
    CostRowsInvalid,
    RowError,
    decode,
    parse_csv,
    parse_upload,
)
from app.exceptions import PayloadTooLarge


def test_a_russian_excel_file() -> None:
    # Semicolons, a decimal comma, a no-break space in thousands, dd.mm.yyyy, Windows-1251.
    text = (
        "Date;Source;Medium;Campaign;Cost;Currency\r\n"
        "01.11.2026;yandex;cpc;диваны;1\u00a0234,567;rub\r\n"
    )

    [row] = parse_csv(decode(text.encode("cp1251", errors="replace")))

    assert row == CostRow(
        day=date(2026, 11, 1),
        source="yandex",
        medium="cpc",
        campaign="диваны",
        cost=Decimal("1234.57"),
        currency="RUB",
    )


def test_a_bom_columns_in_any_order_and_no_medium_or_campaign() -> None:
    body = "\ufeffcurrency,cost,source,date\nRUB,10,Google,2026-11-01\n\n".encode()
    [row] = parse_upload(body, "text/csv")
    assert (row.source, row.medium, row.campaign, row.cost) == ("google", "", "", Decimal("10.00"))


def test_quoted_cells_with_commas_and_newlines() -> None:
    text = (
        "date,source,medium,campaign,cost,currency\n"
        '2026-11-01,yandex,cpc,"sofas, beds\nand more","1,5",RUB\n'
        "2026-11-01,vk,social,,x,RUB\n"
    )
    with pytest.raises(CostRowsInvalid) as caught:
        parse_csv(text)
    # The quoted cell spans two lines: the next row is the file's fourth line.
    assert caught.value.errors == [RowError(4, "cost", "'x' is not a number")]


def test_duplicates_in_one_upload_are_refused() -> None:
    text = (
        "date,source,medium,campaign,cost,currency\n"
        "2026-11-01,yandex,cpc,sofas,1,RUB\n"
        "2026-11-01,Yandex,cpc,sofas,2,RUB\n"
    )
    with pytest.raises(CostRowsInvalid) as caught:
        parse_csv(text)
    assert caught.value.detail == "row 3: same date, source, medium and campaign as row 2"
    assert caught.value.status_code == 422


@pytest.mark.parametrize(
    ("cost", "message"),
    [
        ("NaN", "'NaN' is not a number"),
        ("Infinity", "'Infinity' is not a number"),
        ("1e20", "'1e20' is too large"),
        ("", "is required"),
    ],
)
def test_costs_that_are_not_amounts(cost: str, message: str) -> None:
    with pytest.raises(CostRowsInvalid) as caught:
        parse_csv(f"date,source,cost,currency\n2026-11-01,vk,{cost},RUB\n")
    assert caught.value.errors == [RowError(2, "cost", message)]


def test_long_error_lists_are_cut_short() -> None:
    text = "date,source,cost,currency\n" + "2026-11-01,vk,x,RUB\n" * (MAX_REPORTED + 5)
    with pytest.raises(CostRowsInvalid) as caught:
        parse_csv(text)
    assert len(caught.value.errors) == MAX_REPORTED + 5
    assert caught.value.detail.endswith("; and 5 more")


def test_too_large_uploads() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_upload(b"x" * (10 * 1024 * 1024 + 1), "text/csv")
