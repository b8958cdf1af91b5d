"""The reports over HTTP: visits through the tracker API, calls through signed PBX webhooks,
costs through the costs API, a deal written as the CRM side would; on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Call, Site
from tests.calls.test_attribution import World, pool_number
from tests.clock import ManualClock
from tests.reports.rows import create_deal


@pytest.fixture
async def world(anonymous: AsyncClient, client: AsyncClient, clock: ManualClock) -> World:
    return await World(anonymous, client, clock).build()


async def win_deal(
    sessionmaker: async_sessionmaker[AsyncSession], call_id: str, revenue: str
) -> None:
    async with sessionmaker() as db:
        call = await db.get(Call, uuid.UUID(call_id))
        assert call is not None
        site = await db.get(Site, call.site_id)
        assert site is not None
        await create_deal(db, site=site, call=call, revenue=revenue)
        await db.commit()


async def sources(world: World, **params: str) -> dict[str, Any]:
    response = await world.client.get(
        f"/api/v1/sites/{world.site['id']}/reports/sources", params=params
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_sources_report_end_to_end(
    world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    paid = await world.visit(
        url="https://shop.example/?utm_source=yandex&utm_medium=cpc&utm_campaign=sofas&yclid=42",
        ym_client_id="1700000000123",
    )
    world.clock.advance(seconds=30)
    sold = await world.call(pool_number(paid), caller="+79000000001")
    direct = await world.visit(url="https://shop.example/")
    world.clock.advance(seconds=30)
    await world.call(pool_number(direct), caller="+79000000002")
    await world.call("+74950000201", caller="+79000000003")  # the offline flyer number
    await win_deal(sessionmaker, sold["id"], "5000")
    costs = await world.client.post(
        f"/api/v1/sites/{world.site['id']}/costs",
        content="date,source,medium,campaign,cost,currency\n2026-11-02,yandex,cpc,sofas,1000,RUB\n",
        headers={"Content-Type": "text/csv"},
    )
    assert costs.status_code == 200, costs.text

    body = await sources(world, **{"from": "2026-11-02", "to": "2026-11-02"})

    rows = {(r["source"], r["medium"], r["campaign"]): r for r in body["rows"]}
    assert set(rows) == {
        ("yandex", "cpc", "sofas"),
        ("(direct)", "(none)", None),
        ("offline", "offline", "metro-flyers"),
    }
    yandex = rows[("yandex", "cpc", "sofas")]
    assert yandex == {
        "source": "yandex",
        "medium": "cpc",
        "campaign": "sofas",
        "term": None,
        "sessions": 1,
        "calls": 1,
        "first_time_calls": 1,
        "answered": 1,
        "missed": 0,
        "leads": 1,
        "form_leads": 0,
        "deals_won": 1,
        "revenue": 5000.0,
        "cost": 1000.0,
        "cost_per_call": 1000.0,
        "cost_per_lead": 1000.0,
        "romi": 4.0,
    }
    assert rows[("(direct)", "(none)", None)]["sessions"] == 1
    assert rows[("offline", "offline", "metro-flyers")]["sessions"] == 0
    assert body["totals"]["calls"] == 3
    assert body["since"] == "2026-11-01T21:00:00Z"
    assert body["until"] == "2026-11-02T21:00:00Z"

    # The day before has none of it.
    empty = await sources(world, **{"from": "2026-11-01", "to": "2026-11-01"})
    assert empty["rows"] == []

    by_source = await sources(world, group_by="source", model="linear")
    assert {r["source"] for r in by_source["rows"]} == {"yandex", "(direct)", "offline"}
    assert by_source["model"] == "linear"


async def test_a_direct_return_visit_is_credited_to_the_earlier_campaign(world: World) -> None:
    first = await world.visit(
        url="https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=brand"
    )
    world.clock.advance(days=1)
    again = await world.visit(url="https://shop.example/", visitor_id=first["visitor_id"])
    world.clock.advance(seconds=30)
    await world.call(pool_number(again))

    period = {"from": "2026-11-01", "to": "2026-11-30"}
    last = await sources(world, **period)
    linear = await sources(world, **period, model="linear")

    assert [(r["source"], r["calls"]) for r in last["rows"]] == [
        ("google", 1),
        ("(direct)", 0),
    ]
    assert sorted((r["source"], r["calls"]) for r in linear["rows"]) == [
        ("(direct)", 0.5),
        ("google", 0.5),
    ]


async def test_calls_by_day(world: World) -> None:
    await world.call("+74950000201", caller="+79000000003")

    response = await world.client.get(
        f"/api/v1/sites/{world.site['id']}/reports/calls-by-day",
        params={"from": "2026-11-01", "to": "2026-11-07"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["days"] == [{"day": "2026-11-02", "source": "offline", "calls": 1}]


async def test_the_default_period_is_the_last_30_days(world: World) -> None:
    await world.call("+74950000201", caller="+79000000003")
    body = await sources(world)
    assert body["until"] == "2026-11-02T21:00:00Z"  # the end of today, Moscow time
    assert body["since"] == "2026-10-03T21:00:00Z"
    assert body["totals"]["calls"] == 1


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"from": "yesterday"}, "from: 'yesterday' is not an ISO date"),
        ({"from": "2026-11-05", "to": "2026-11-01"}, "to: must be after from"),
        ({"model": "w-shaped"}, "model: "),
        ({"group_by": "content"}, "group_by: "),
        # Python's datetime edges: `to` plus a day overflowed into a 500.
        ({"from": "0001-01-01", "to": "9999-12-31"}, "from: '0001-01-01' is outside"),
        ({"to": "9999-12-31"}, "to: '9999-12-31' is outside 2000-01-01..2100-01-01"),
        ({"from": "0001-01-01T00:00:00+05:00"}, "from: '0001-01-01T00:00:00+05:00' is outside"),
    ],
)
async def test_bad_parameters_are_422(
    client: AsyncClient, world: World, params: dict[str, str], detail: str
) -> None:
    response = await client.get(f"/api/v1/sites/{world.site['id']}/reports/sources", params=params)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)


async def test_datetimes_with_an_offset_are_taken_as_written(world: World) -> None:
    await world.call("+74950000201", caller="+79000000003")  # 2026-11-02 09:30 UTC
    base = f"/api/v1/sites/{world.site['id']}/reports/sources"
    # "+03:00" unencoded in a URL arrives as " 03:00": still understood.
    inside = await world.client.get(
        f"{base}?from=2026-11-02T12:00:00+03:00&to=2026-11-02T13:00:00%2B03:00"
    )
    after = await world.client.get(base, params={"from": "2026-11-02T09:31:00Z"})

    assert inside.json()["totals"]["calls"] == 1
    assert after.json()["totals"]["calls"] == 0


async def test_unknown_site_is_404_and_anonymous_401(
    client: AsyncClient, anonymous: AsyncClient
) -> None:
    path = f"/api/v1/sites/{uuid.uuid4()}/reports/sources"
    assert (await client.get(path)).status_code == 404
    assert (await anonymous.get(path)).status_code == 401
