"""The sources report on a hand-computed month, under each model and grouping, on SQLite and
PostgreSQL.

The month (November 2026, Moscow time):
- visitor 1: google/cpc/brand on Oct 20 (before the period), a direct visit on Nov 5 that
  called (C1: answered, first time, a deal won for 30,000);
- visitor 2: yandex/cpc/sofas (term "sofa") on Nov 10, vk/social on Nov 11 that called (C2:
  missed, a lost deal), yandex/cpc/sofas again on Nov 12 that called (C3: answered, a repeat
  caller, a deal won for 9,000);
- an offline flyer number called (C4: answered but 5 s long, possible spam);
- an unattributed call (C5: missed);
- visitor 3: one google/cpc/brand visit on Nov 20, no call;
- outside the period (Dec 1 local): a call, a visit and a cost that must not count.
Costs: google/cpc/brand 10,000 (Nov 1) + 5,000 (Nov 30); yandex/cpc/sofas 6,000;
yandex/cpc/other 3,000 (a campaign that brought nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Site
from app.reports import service
from app.reports.attribution_models import GroupBy, Model
from app.reports.period import resolve_period
from tests.reports.rows import (
    create_call,
    create_cost,
    create_deal,
    create_integration,
    create_session,
    create_site,
    create_visitor,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
MOSCOW = ZoneInfo("Europe/Moscow")


def msk(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Moscow wall-clock time (UTC+3) as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=MOSCOW).astimezone(UTC)


@dataclass
class Month:
    site: Site
    since: datetime
    until: datetime


async def build_month(db: AsyncSession) -> Month:
    site = await create_site(db)
    pbx = await create_integration(db, site=site)

    v1 = await create_visitor(db, site=site)
    await create_session(
        db, site=site, visitor=v1, at=msk(10, 20, 12), source="google", medium="cpc",
        campaign="brand", gclid="g-1",
    )  # fmt: skip
    s2 = await create_session(
        db, site=site, visitor=v1, at=msk(11, 5, 10), source="(direct)", medium="(none)"
    )
    c1 = await create_call(db, site=site, integration=pbx, at=msk(11, 5, 10, 5), session=s2)
    await create_deal(db, site=site, call=c1, revenue="30000")

    v2 = await create_visitor(db, site=site)
    await create_session(
        db, site=site, visitor=v2, at=msk(11, 10, 9), source="yandex", medium="cpc",
        campaign="sofas", term="sofa",
    )  # fmt: skip
    s4 = await create_session(
        db, site=site, visitor=v2, at=msk(11, 11, 9), source="vk", medium="social"
    )
    c2 = await create_call(
        db, site=site, integration=pbx, at=msk(11, 11, 9, 10), session=s4, outcome="missed",
        caller="+79002222222",
    )  # fmt: skip
    await create_deal(db, site=site, call=c2, revenue="100000", status="lost")
    s5 = await create_session(
        db, site=site, visitor=v2, at=msk(11, 12, 9), source="yandex", medium="cpc",
        campaign="sofas", term="sofa",
    )  # fmt: skip
    c3 = await create_call(
        db, site=site, integration=pbx, at=msk(11, 12, 9, 30), session=s5,
        caller="+79002222222", first_time_caller=False,
    )  # fmt: skip
    await create_deal(db, site=site, call=c3, revenue="9000")
    await create_deal(db, site=site, call=c3, revenue="777", status="open")

    await create_call(
        db, site=site, integration=pbx, at=msk(11, 15, 12), method="offline", source="offline",
        medium="offline", campaign="metro-flyers", duration=5, talk_duration=3,
        possible_spam=True, caller="+79003333333",
    )  # fmt: skip
    await create_call(
        db, site=site, integration=pbx, at=msk(11, 16, 12), outcome="missed",
        caller="+79004444444",
    )  # fmt: skip

    v3 = await create_visitor(db, site=site)
    await create_session(
        db, site=site, visitor=v3, at=msk(11, 20, 15), source="google", medium="cpc",
        campaign="brand",
    )  # fmt: skip

    # December 1st, 01:00 in Moscow is still November 30th in UTC: outside the period.
    late = await create_session(
        db, site=site, visitor=v3, at=msk(12, 1, 1), source="yandex", medium="cpc",
        campaign="sofas",
    )  # fmt: skip
    await create_call(db, site=site, integration=pbx, at=msk(12, 1, 1, 5), session=late)

    for day, source, campaign, cost in (
        (date(2026, 11, 1), "google", "brand", "10000"),
        (date(2026, 11, 30), "google", "brand", "5000"),
        (date(2026, 12, 1), "google", "brand", "7000"),
        (date(2026, 11, 10), "yandex", "sofas", "6000"),
        (date(2026, 11, 10), "yandex", "other", "3000"),
    ):
        await create_cost(
            db, site=site, day=day, source=source, medium="cpc", campaign=campaign, cost=cost
        )
    period = resolve_period("2026-11-01", "2026-11-30", timezone=site.timezone, now=NOW)
    return Month(site=site, since=period.since, until=period.until)


async def report(
    db: AsyncSession, month: Month, *, group_by: GroupBy = GroupBy.CAMPAIGN, model: Model
) -> dict[str, Any]:
    result = await service.sources_report(
        db, site=month.site, since=month.since, until=month.until, group_by=group_by, model=model
    )
    body: dict[str, Any] = result.model_dump(mode="json")
    return body


def row(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "medium": None,
        "campaign": None,
        "term": None,
        "sessions": 0,
        "calls": 0,
        "first_time_calls": 0,
        "answered": 0,
        "missed": 0,
        "leads": 0,
        "form_leads": 0,
        "deals_won": 0,
        "revenue": 0.0,
        "cost": None,
        "cost_per_call": None,
        "cost_per_lead": None,
        "romi": None,
    }
    merged = base | values
    if merged["cost"] is not None and merged["leads"]:
        merged["cost_per_lead"] = merged["cost"] / merged["leads"]
    return merged


def channels(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(r["source"], r["medium"], r["campaign"]) for r in body["rows"]]


async def test_the_period_is_the_sites_local_month(db: AsyncSession) -> None:
    month = await build_month(db)
    assert month.since == datetime(2026, 10, 31, 21, 0, tzinfo=UTC)
    assert month.until == datetime(2026, 11, 30, 21, 0, tzinfo=UTC)


async def test_last_non_direct_touch(db: AsyncSession) -> None:
    body = await report(db, await build_month(db), model=Model.LAST_NON_DIRECT)

    assert body["rows"] == [
        row(source="(none)", medium="(none)", calls=1, first_time_calls=1, missed=1),
        # C1 came from a direct visit: the credit goes to the google visit before it.
        row(
            source="google", medium="cpc", campaign="brand", sessions=1, calls=1,
            first_time_calls=1, answered=1, leads=1, deals_won=1, revenue=30000.0,
            cost=15000.0, cost_per_call=15000.0, romi=1.0,
        ),
        # Answered, but 5 seconds of possible spam is no lead.
        row(
            source="offline", medium="offline", campaign="metro-flyers", calls=1,
            first_time_calls=1, answered=1,
        ),
        row(source="vk", medium="social", sessions=1, calls=1, first_time_calls=1, missed=1),
        row(
            source="yandex", medium="cpc", campaign="sofas", sessions=2, calls=1, answered=1,
            leads=1, deals_won=1, revenue=9000.0, cost=6000.0, cost_per_call=6000.0, romi=0.5,
        ),
        row(source="(direct)", medium="(none)", sessions=1),
        # Money spent, nothing back: ROMI -100 %, no cost per call without calls.
        row(source="yandex", medium="cpc", campaign="other", cost=3000.0, romi=-1.0),
    ]  # fmt: skip
    assert body["totals"] == {
        "sessions": 5,
        "calls": 5,
        "first_time_calls": 4,
        "answered": 3,
        "missed": 2,
        "leads": 2,
        "form_leads": 0,
        "deals_won": 2,
        "revenue": 39000.0,
        "cost": 24000.0,
        "cost_per_call": 4800.0,
        "cost_per_lead": 12000.0,
        "romi": 0.625,
    }
    assert (body["currency"], body["set_apart"], body["unattributed_revenue"]) == ("RUB", [], 0.0)
    assert (body["model"], body["group_by"]) == ("last_non_direct", "campaign")


async def test_first_touch(db: AsyncSession) -> None:
    body = await report(db, await build_month(db), model=Model.FIRST_TOUCH)
    by_channel = {(r["source"], r["medium"], r["campaign"]): r for r in body["rows"]}

    # Both of visitor 2's calls go to their first visit, yandex.
    yandex = by_channel[("yandex", "cpc", "sofas")]
    assert (yandex["calls"], yandex["answered"], yandex["missed"]) == (2, 1, 1)
    assert (yandex["revenue"], yandex["cost_per_call"], yandex["romi"]) == (9000.0, 3000.0, 0.5)
    google = by_channel[("google", "cpc", "brand")]
    assert (google["calls"], google["revenue"], google["romi"]) == (1, 30000.0, 1.0)
    assert by_channel[("vk", "social", None)]["calls"] == 0
    assert by_channel[("vk", "social", None)]["sessions"] == 1
    assert channels(body)[0] == ("yandex", "cpc", "sofas")
    assert body["totals"]["calls"] == 5


async def test_linear(db: AsyncSession) -> None:
    body = await report(db, await build_month(db), model=Model.LINEAR)
    by_channel = {(r["source"], r["medium"], r["campaign"]): r for r in body["rows"]}

    # C1: Oct 20 google + Nov 5 direct, half each (the earlier visit counts though it is
    # before the period). C2: yandex + vk, half each. C3: yandex, vk, yandex: 2/3 and 1/3.
    google = by_channel[("google", "cpc", "brand")]
    assert (google["calls"], google["revenue"], google["cost_per_call"]) == (
        0.5, 15000.0, 30000.0,
    )  # fmt: skip
    assert google["romi"] == 0.0
    direct = by_channel[("(direct)", "(none)", None)]
    assert (direct["calls"], direct["revenue"], direct["answered"]) == (0.5, 15000.0, 0.5)
    yandex = by_channel[("yandex", "cpc", "sofas")]
    assert yandex["calls"] == pytest.approx(0.5 + 2 / 3, abs=1e-4)
    assert yandex["missed"] == 0.5
    assert yandex["answered"] == pytest.approx(2 / 3, abs=1e-4)
    assert yandex["revenue"] == 6000.0
    assert yandex["romi"] == 0.0
    vk = by_channel[("vk", "social", None)]
    assert vk["calls"] == pytest.approx(0.5 + 1 / 3, abs=1e-4)
    assert vk["revenue"] == 3000.0
    assert vk["first_time_calls"] == 0.5
    assert channels(body) == [
        ("yandex", "cpc", "sofas"),
        ("(none)", "(none)", None),
        ("offline", "offline", "metro-flyers"),
        ("vk", "social", None),
        ("(direct)", "(none)", None),
        ("google", "cpc", "brand"),
        ("yandex", "cpc", "other"),
    ]
    # Shares add up: the totals are whole calls.
    assert body["totals"]["calls"] == 5
    assert sum(r["calls"] for r in body["rows"]) == pytest.approx(5)
    assert sum(r["revenue"] for r in body["rows"]) == pytest.approx(39000)


async def test_group_by_source_sums_campaigns_and_their_costs(db: AsyncSession) -> None:
    body = await report(db, await build_month(db), group_by=GroupBy.SOURCE, model=Model.LINEAR)
    by_source = {r["source"]: r for r in body["rows"]}

    assert set(by_source) == {"google", "yandex", "vk", "(direct)", "offline", "(none)"}
    assert all(r["medium"] is None and r["campaign"] is None for r in body["rows"])
    yandex = by_source["yandex"]
    assert (yandex["sessions"], yandex["cost"], yandex["revenue"]) == (2, 9000.0, 6000.0)
    assert yandex["romi"] == pytest.approx(-1 / 3, abs=1e-4)
    assert yandex["cost_per_call"] == pytest.approx(9000 / (0.5 + 2 / 3), abs=0.01)


async def test_group_by_medium(db: AsyncSession) -> None:
    body = await report(db, await build_month(db), group_by=GroupBy.MEDIUM, model=Model.FIRST_TOUCH)
    assert channels(body) == [
        ("yandex", "cpc", None),
        ("(none)", "(none)", None),
        ("google", "cpc", None),
        ("offline", "offline", None),
        ("(direct)", "(none)", None),
        ("vk", "social", None),
    ]
    yandex = body["rows"][0]
    assert (yandex["cost"], yandex["cost_per_call"], yandex["romi"]) == (9000.0, 4500.0, 0.0)


async def test_group_by_term_books_costs_by_keyword(db: AsyncSession) -> None:
    month = await build_month(db)
    # Spend an ad account imported by keyword: it meets the visits' utm_term.
    await create_cost(
        db,
        site=month.site,
        day=date(2026, 11, 3),
        source="yandex",
        medium="cpc",
        campaign="sofas",
        term="sofa",
        cost="1200",
    )
    body = await report(db, month, group_by=GroupBy.TERM, model=Model.LAST_NON_DIRECT)
    by_channel = {(r["source"], r["campaign"], r["term"]): r for r in body["rows"]}

    sofa = by_channel[("yandex", "sofas", "sofa")]
    assert (sofa["sessions"], sofa["calls"], sofa["revenue"]) == (2, 1, 9000.0)
    assert (sofa["cost"], sofa["cost_per_call"]) == (1200.0, 1200.0)
    assert sofa["romi"] == (9000.0 - 1200.0) / 1200.0
    # Spend without a keyword stays on its campaign's row without a term.
    assert by_channel[("yandex", "sofas", None)]["cost"] == 6000.0
    assert by_channel[("yandex", "other", None)]["cost"] == 3000.0
    assert body["totals"]["cost"] == 24000.0 + 1200.0


async def test_zero_cost_has_a_cost_per_call_but_no_romi(db: AsyncSession) -> None:
    site = await create_site(db)
    pbx = await create_integration(db, site=site)
    visit = await create_session(db, site=site, at=msk(11, 3, 10), source="vk", medium="social")
    await create_call(db, site=site, integration=pbx, at=msk(11, 3, 11), session=visit)
    await create_cost(db, site=site, day=date(2026, 11, 3), source="VK", medium="Social", cost="0")
    period = resolve_period("2026-11-01", "2026-11-30", timezone=site.timezone, now=NOW)

    result = await service.sources_report(
        db, site=site, since=period.since, until=period.until, model=Model.LAST_NON_DIRECT
    )

    [vk] = result.model_dump(mode="json")["rows"]
    # A consented-out visit (no visitor) still credits its own channel; the cost written as
    # "VK / Social" meets the visit's "vk / social".
    assert (vk["source"], vk["medium"], vk["calls"], vk["sessions"]) == ("vk", "social", 1, 1)
    assert (vk["cost"], vk["cost_per_call"], vk["romi"]) == (0.0, 0.0, None)


async def test_an_empty_period(db: AsyncSession) -> None:
    site = await create_site(db)
    period = resolve_period("2026-11-01", "2026-11-30", timezone=site.timezone, now=NOW)
    result = await service.sources_report(db, site=site, since=period.since, until=period.until)
    body = result.model_dump(mode="json")
    assert body["rows"] == []
    assert body["totals"]["calls"] == 0
    assert body["totals"]["cost"] is None
    assert (body["currency"], body["set_apart"], body["unattributed_revenue"]) == ("RUB", [], 0.0)


async def test_money_in_another_currency_is_set_apart_never_added(db: AsyncSession) -> None:
    month = await build_month(db)
    site = month.site
    pbx = await create_integration(db, site=site)
    await create_cost(
        db, site=site, day=date(2026, 11, 2), source="google", medium="cpc", campaign="brand",
        cost="100", currency="USD",
    )  # fmt: skip
    await create_cost(db, site=site, day=date(2026, 11, 3), source="vk", cost="30", currency="EUR")
    visitor = await create_visitor(db, site=site)
    visit = await create_session(
        db, site=site, visitor=visitor, at=msk(11, 21, 10), source="vk", medium="social"
    )
    call = await create_call(
        db, site=site, integration=pbx, at=msk(11, 21, 10, 5), session=visit,
        caller="+79005555555",
    )  # fmt: skip
    await create_deal(db, site=site, call=call, revenue="120", currency="EUR")
    await create_deal(db, site=site, call=call, revenue="1000", currency="RUB")

    body = await report(db, month, model=Model.LAST_NON_DIRECT)
    assert body["currency"] == "RUB"
    assert body["set_apart"] == [
        {"currency": "EUR", "revenue": 120.0, "cost": 30.0},
        {"currency": "USD", "revenue": 0.0, "cost": 100.0},
    ]
    # The sums are those of the RUB deals and costs only; both deals count as won.
    assert body["totals"]["revenue"] == 40000.0
    assert body["totals"]["cost"] == 24000.0
    assert body["totals"]["deals_won"] == 4
    vk = next(r for r in body["rows"] if (r["source"], r["medium"]) == ("vk", "social"))
    assert (vk["revenue"], vk["deals_won"]) == (1000.0, 2)


async def test_the_headline_romi_counts_revenue_with_a_source(db: AsyncSession) -> None:
    month = await build_month(db)
    pbx = await create_integration(db, site=month.site)
    # A call no visit explains (a number we do not track), and a won deal on it.
    lone = await create_call(
        db, site=month.site, integration=pbx, at=msk(11, 22, 12), caller="+79006666666"
    )
    await create_deal(db, site=month.site, call=lone, revenue="6000")

    body = await report(db, month, model=Model.LAST_NON_DIRECT)
    none = next(r for r in body["rows"] if r["source"] == "(none)")
    assert none["revenue"] == 6000.0
    assert body["unattributed_revenue"] == 6000.0
    assert body["totals"]["revenue"] == 45000.0  # every row's revenue...
    # ... but ROMI only over the 39,000 that has a source: (39,000 - 24,000) / 24,000.
    assert body["totals"]["romi"] == 0.625


async def test_calls_by_day(db: AsyncSession) -> None:
    month = await build_month(db)
    result = await service.calls_by_day(
        db, site=month.site, since=month.since, until=month.until, model=Model.LINEAR
    )
    days = [(d["day"], d["source"], d["calls"]) for d in result.model_dump(mode="json")["days"]]
    assert days == [
        ("2026-11-05", "(direct)", 0.5),
        ("2026-11-05", "google", 0.5),
        ("2026-11-11", "vk", 0.5),
        ("2026-11-11", "yandex", 0.5),
        ("2026-11-12", "yandex", 0.6667),
        ("2026-11-12", "vk", 0.3333),
        ("2026-11-15", "offline", 1),
        ("2026-11-16", "(none)", 1),
    ]
