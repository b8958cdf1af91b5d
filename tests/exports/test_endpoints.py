"""The three CSV exports, column by column, on SQLite and PostgreSQL.

The calls (Moscow time):
- C1 Nov 5 10:05, a yandex visit with a yclid and a Metrika ClientId; answered, 65 s (60 s
  talking), first time; a deal won for 30,000.50;
- C2 Nov 6 12:00, a google visit with a gclid and a ClientId; missed, 20 s, a repeat caller;
- C3 Nov 6 15:00, the offline flyer number, whose campaign someone named like a formula;
- C4 Nov 7 09:00, a google visit with a gclid and a ClientId, 5 s: possible spam;
- C6 Nov 7 23:30, a google visit with a gclid; a deal won for 1,500;
- and a call on Dec 1, outside the period.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.reports.rows import (
    create_call,
    create_deal,
    create_integration,
    create_session,
    create_site,
    create_visitor,
)

MOSCOW = ZoneInfo("Europe/Moscow")
PERIOD = {"from": "2026-11-01", "to": "2026-11-30"}
LANDING = "https://shop.example/?utm_source=yandex&utm_medium=cpc&yclid=Y42"


def msk(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=MOSCOW).astimezone(UTC)


@dataclass
class Calls:
    site_id: str
    ids: dict[str, str]
    sessions: dict[str, str]
    visitors: dict[str, str]


@pytest.fixture
async def calls(sessionmaker: async_sessionmaker[AsyncSession]) -> Calls:
    async with sessionmaker() as db:
        site = await create_site(db)
        pbx = await create_integration(db, site=site)
        v1, v2 = await create_visitor(db, site=site), await create_visitor(db, site=site)
        s1 = await create_session(
            db, site=site, visitor=v1, at=msk(11, 5, 10), source="yandex", medium="cpc",
            campaign="sofas", term="sofa", yclid="Y42", ym_client_id="1700000000123",
            landing_url=LANDING, referrer="https://yandex.ru/",
        )  # fmt: skip
        c1 = await create_call(
            db, site=site, integration=pbx, at=msk(11, 5, 10, 5), session=s1, duration=65,
            talk_duration=60, recording_url="https://pbx.example/rec/1.mp3",
        )  # fmt: skip
        await create_deal(db, site=site, call=c1, revenue="30000.50")
        s2 = await create_session(
            db, site=site, visitor=v2, at=msk(11, 6, 11), source="google", medium="cpc",
            campaign="brand", gclid="G-abc", ym_client_id="1700000000456",
        )  # fmt: skip
        c2 = await create_call(
            db, site=site, integration=pbx, at=msk(11, 6, 12), session=s2, outcome="missed",
            duration=20, talk_duration=None, first_time_caller=False, caller="+79002222222",
        )  # fmt: skip
        c3 = await create_call(
            db, site=site, integration=pbx, at=msk(11, 6, 15), method="offline",
            source="offline", medium="offline", campaign='=HYPERLINK("http://evil.example")',
            duration=120, talk_duration=110, caller="+79003333333", called="+74950000201",
            confidence=0.9,
        )  # fmt: skip
        s4 = await create_session(
            db, site=site, visitor=v2, at=msk(11, 7, 8), source="google", medium="cpc",
            gclid="G-spam", ym_client_id="1700000000456",
        )  # fmt: skip
        await create_call(
            db, site=site, integration=pbx, at=msk(11, 7, 9), session=s4, duration=5,
            talk_duration=2, possible_spam=True, caller="+79004444444",
        )  # fmt: skip
        s6 = await create_session(
            db, site=site, at=msk(11, 7, 23), source="google", medium="cpc", gclid="G-won"
        )
        c6 = await create_call(
            db, site=site, integration=pbx, at=msk(11, 7, 23, 30), session=s6, duration=90,
            caller="+79006666666",
        )  # fmt: skip
        await create_deal(db, site=site, call=c6, revenue="1500")
        await create_deal(db, site=site, call=c6, revenue="99", status="lost")
        late = await create_session(
            db, site=site, at=msk(12, 1, 9), source="google", medium="cpc", gclid="G-late",
            ym_client_id="1700000000999",
        )  # fmt: skip
        await create_call(db, site=site, integration=pbx, at=msk(12, 1, 9, 5), session=late)
        await db.commit()
        return Calls(
            site_id=str(site.id),
            ids={"c1": str(c1.id), "c2": str(c2.id), "c3": str(c3.id), "c6": str(c6.id)},
            sessions={"s1": str(s1.id)},
            visitors={"v1": str(v1.id)},
        )


async def export(client: AsyncClient, calls: Calls, name: str, **params: Any) -> Response:
    response = await client.get(
        f"/api/v1/sites/{calls.site_id}/exports/{name}", params=PERIOD | params
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return response


def records(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def unix(moment: datetime) -> str:
    return str(int(moment.timestamp()))


async def test_calls_csv(client: AsyncClient, calls: Calls) -> None:
    response = await export(client, calls, "calls.csv")

    assert response.headers["content-disposition"] == (
        'attachment; filename="calls-2026-11-01-2026-11-30.csv"'
    )
    # A BOM, so that Excel reads the file as UTF-8.
    assert response.content.startswith(b"\xef\xbb\xbf")
    header, *rows = records(response.content.decode("utf-8-sig"))
    assert header == [
        "id", "started_at", "started_at_local", "caller", "called", "status", "outcome",
        "missed", "duration", "talk_duration", "first_time_caller", "possible_spam",
        "attribution_method", "confidence", "source", "medium", "campaign", "term", "content",
        "landing_url", "referrer", "gclid", "yclid", "session_id", "visitor_id", "deals_won",
        "revenue", "currency", "recording_url",
    ]  # fmt: skip
    assert len(rows) == 5  # oldest first, December's call left out
    first = dict(zip(header, rows[0], strict=True))
    assert first == {
        "id": calls.ids["c1"],
        "started_at": "2026-11-05T07:05:00Z",
        "started_at_local": "2026-11-05 10:05:00",
        # E.164 starts with "+", which a spreadsheet would read as a formula.
        "caller": "'+79001234567",
        "called": "'+74950000001",
        "status": "ended",
        "outcome": "answered",
        "missed": "no",
        "duration": "65",
        "talk_duration": "60",
        "first_time_caller": "yes",
        "possible_spam": "no",
        "attribution_method": "dynamic",
        "confidence": "0.95",
        "source": "yandex",
        "medium": "cpc",
        "campaign": "sofas",
        "term": "sofa",
        "content": "",
        "landing_url": LANDING,
        "referrer": "https://yandex.ru/",
        "gclid": "",
        "yclid": "Y42",
        "session_id": calls.sessions["s1"],
        "visitor_id": calls.visitors["v1"],
        "deals_won": "1",
        "revenue": "30000.50",
        "currency": "RUB",
        "recording_url": "https://pbx.example/rec/1.mp3",
    }
    missed = dict(zip(header, rows[1], strict=True))
    assert (missed["id"], missed["missed"], missed["talk_duration"]) == (calls.ids["c2"], "yes", "")
    assert (missed["deals_won"], missed["revenue"], missed["currency"]) == ("0", "", "")
    offline = dict(zip(header, rows[2], strict=True))
    assert offline["campaign"] == '\'=HYPERLINK("http://evil.example")'
    assert (offline["attribution_method"], offline["source"], offline["session_id"]) == (
        "offline",
        "offline",
        "",
    )
    assert dict(zip(header, rows[3], strict=True))["possible_spam"] == "yes"
    last = dict(zip(header, rows[4], strict=True))
    assert (last["started_at_local"], last["revenue"], last["deals_won"]) == (
        "2026-11-07 23:30:00",
        "1500.00",
        "1",
    )


async def test_calls_csv_min_duration(client: AsyncClient, calls: Calls) -> None:
    response = await export(client, calls, "calls.csv", min_duration=65)
    ids = [row[0] for row in records(response.content.decode("utf-8-sig"))[1:]]
    assert ids == [calls.ids["c1"], calls.ids["c3"], calls.ids["c6"]]


async def test_google_ads_csv(client: AsyncClient, calls: Calls) -> None:
    response = await export(client, calls, "google-ads.csv", conversion_name="Phone call")

    text = response.text
    assert text.startswith("Parameters:TimeZone=Europe/Moscow\r\n")  # no BOM before it
    assert records(text) == [
        ["Parameters:TimeZone=Europe/Moscow"],
        [
            "Google Click ID",
            "Conversion Name",
            "Conversion Time",
            "Conversion Value",
            "Conversion Currency",
        ],
        # No won deal: value and currency empty, Google applies the action's default value.
        ["G-abc", "Phone call", "2026-11-06 12:00:00", "", ""],
        ["G-won", "Phone call", "2026-11-07 23:30:00", "1500.00", "RUB"],
    ]


async def test_google_ads_csv_options(client: AsyncClient, calls: Calls) -> None:
    with_spam = await export(
        client, calls, "google-ads.csv", conversion_name="Call", include_spam="true"
    )
    long_only = await export(
        client, calls, "google-ads.csv", conversion_name="Call", min_duration=60
    )

    assert [r[0] for r in records(with_spam.text)[2:]] == ["G-abc", "G-spam", "G-won"]
    assert [r[0] for r in records(long_only.text)[2:]] == ["G-won"]


async def test_google_ads_csv_needs_a_conversion_name(client: AsyncClient, calls: Calls) -> None:
    response = await client.get(f"/api/v1/sites/{calls.site_id}/exports/google-ads.csv")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("conversion_name:")


async def test_yandex_metrika_calls_csv(client: AsyncClient, calls: Calls) -> None:
    response = await export(client, calls, "yandex-metrika-calls.csv")

    assert records(response.text) == [
        [
            "ClientId", "Yclid", "DateTime", "StaticCall", "Price", "Currency", "PhoneNumber",
            "TalkDuration", "HoldDuration", "CallMissed", "FirstTimeCaller", "URL",
        ],
        [
            "1700000000123", "Y42", unix(msk(11, 5, 10, 5)), "0", "30000.50", "RUB",
            "+74950000001", "60", "5", "0", "1", LANDING,
        ],
        [
            "1700000000456", "", unix(msk(11, 6, 12)), "0", "", "", "+74950000001", "0", "20",
            "1", "0", "https://shop.example/",
        ],
    ]  # fmt: skip
    assert records(response.text)[1][2] == "1793862300"  # 2026-11-05 07:05:00 UTC


@pytest.mark.parametrize(
    ("identifier", "header", "ids"),
    [
        ("client_id", "ClientId", ["1700000000123", "1700000000456"]),
        ("yclid", "Yclid", ["Y42"]),
    ],
)
async def test_yandex_metrika_calls_csv_with_one_id_column(
    client: AsyncClient, calls: Calls, identifier: str, header: str, ids: list[str]
) -> None:
    response = await export(client, calls, "yandex-metrika-calls.csv", identifier=identifier)
    [head, *rows] = records(response.text)
    assert head[:2] == [header, "DateTime"]
    assert [row[0] for row in rows] == ids


async def test_exports_of_an_unknown_site_are_404(client: AsyncClient) -> None:
    base = f"/api/v1/sites/{uuid.uuid4()}/exports"
    assert (await client.get(f"{base}/calls.csv")).status_code == 404
    assert (await client.get(f"{base}/yandex-metrika-calls.csv")).status_code == 404
    response = await client.get(f"{base}/google-ads.csv", params={"conversion_name": "x"})
    assert response.status_code == 404


async def test_exports_need_the_admin_token(anonymous: AsyncClient) -> None:
    response = await anonymous.get(f"/api/v1/sites/{uuid.uuid4()}/exports/calls.csv")
    assert response.status_code == 401


@pytest.mark.parametrize("name", ["calls.csv", "google-ads.csv", "yandex-metrika-calls.csv"])
async def test_a_period_beyond_the_window_is_422_naming_the_field(
    client: AsyncClient, calls: Calls, name: str
) -> None:
    response = await client.get(
        f"/api/v1/sites/{calls.site_id}/exports/{name}",
        params={"from": "2026-11-01", "to": "9999-12-31", "conversion_name": "Call"},
    )

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "to: '9999-12-31' is outside 2000-01-01..2100-01-01"
