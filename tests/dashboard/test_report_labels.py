"""What the report pages say about money and missing sources: a direct visit and a call no
visit explains have names of their own and an explanation on the page; the headline ROMI
leaves out revenue without a source and says how much; money in another currency than the
site's is shown apart, never added. Both databases."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.dashboard.test_setup_sites import _admin, _create, _site
from tests.reports.rows import (
    create_call,
    create_cost,
    create_deal,
    create_integration,
    create_session,
    create_visitor,
)

PERIOD = "from=2026-11-01&to=2026-11-30"
DIRECT = "Direct visit (no source)"
UNMATCHED = "No visit matched (offline or unknown)"


def _text(html: str) -> str:
    """The page's words, tags taken out and spaces (thin ones too) made plain."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\u202f", " ")


async def _site_with_money(visitor: AsyncClient, db: AsyncSession) -> str:
    """November: a yandex visit that called (won 10,000 RUB), a direct visit that called (won
    2,000 RUB and 120 EUR), a call nothing explains (won 5,000 RUB); yandex cost 4,000 RUB and
    30 USD."""
    await _admin(visitor)
    site_id = await _create(visitor)
    site = await _site(db, site_id)
    pbx = await create_integration(db, site=site)
    at = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    ad = await create_session(
        db, site=site, visitor=await create_visitor(db, site=site), at=at, source="yandex",
        medium="cpc",
    )  # fmt: skip
    paid = await create_call(db, site=site, integration=pbx, at=at, session=ad)
    await create_deal(db, site=site, call=paid, revenue="10000")
    typed = await create_session(
        db, site=site, visitor=await create_visitor(db, site=site), at=at, source="(direct)",
        medium="(none)",
    )  # fmt: skip
    direct = await create_call(
        db, site=site, integration=pbx, at=at, session=typed, caller="+79002222222"
    )
    await create_deal(db, site=site, call=direct, revenue="2000")
    await create_deal(db, site=site, call=direct, revenue="120", currency="EUR")
    lone = await create_call(db, site=site, integration=pbx, at=at, caller="+79003333333")
    await create_deal(db, site=site, call=lone, revenue="5000")
    for cost, currency, campaign in (("4000", "RUB", "sofas"), ("30", "USD", "abroad")):
        await create_cost(
            db, site=site, day=date(2026, 11, 10), source="yandex", medium="cpc", cost=cost,
            currency=currency, campaign=campaign,
        )  # fmt: skip
    await db.commit()
    return site_id


async def test_the_sources_page_names_both_kinds_of_no_source(
    visitor: AsyncClient, db: AsyncSession
) -> None:
    site_id = await _site_with_money(visitor, db)
    page = await visitor.get(f"/sites/{site_id}/sources?{PERIOD}&group_by=medium")
    assert page.status_code == 200
    html = page.text
    # In the table, each with its explanation as a tooltip...
    assert re.search(r'data-source="direct" title="[^"]+">Direct visit \(no source\)<', html)
    assert re.search(r'data-source="none" title="[^"]+">No visit matched', html)
    assert ">(direct)<" not in html
    assert ">(none)<" not in html
    # ... and in words under it, for a phone where nothing hovers.
    legend = _text(html.split('data-testid="source-legend"')[1].split("</dl>")[0])
    assert DIRECT in legend
    assert UNMATCHED in legend
    assert "typed the address" in legend
    # Money apart: the EUR deal and the USD cost, never in the RUB sums.
    text = _text(html)
    assert "Also 120.00 EUR of revenue not added" in text
    assert "also 30.00 USD of ad cost not added" in text
    assert "Revenue, RUB" in text
    assert "The total's ROMI counts revenue that has a source: 5,000.00 RUB" in text


async def test_the_overview_headline_counts_revenue_with_a_source(
    visitor: AsyncClient, db: AsyncSession
) -> None:
    site_id = await _site_with_money(visitor, db)
    page = await visitor.get(f"/sites/{site_id}/overview?{PERIOD}")
    html = page.text
    figures = dict(
        re.findall(
            r'data-figure="(\w+)"><div class="label">[^<]*</div><div class="value">([^<]*)<', html
        )
    )
    # 12,000 RUB with a source (yandex 10,000 and direct 2,000); 5,000 RUB is apart.
    # English (the default language): Babel's grouping and two decimals, as every sum.
    assert figures["revenue"] == "12,000.00"
    assert figures["cost"] == "4,000.00"
    # (12,000 - 4,000) / 4,000
    assert figures["romi"].replace("\u202f", " ").replace("\xa0", " ") in ("200%", "200 %")
    text = _text(html)
    assert "Revenue with a source, RUB" in text
    assert "Not in ROMI: 5,000.00 RUB of revenue from calls no visit matched" in text
    assert "Also 120.00 EUR of revenue not added" in text
    assert DIRECT in text
    assert UNMATCHED in text


async def test_the_api_report_agrees(
    client: AsyncClient, visitor: AsyncClient, db: AsyncSession
) -> None:
    site_id = await _site_with_money(visitor, db)
    body = (
        await client.get(f"/api/v1/sites/{site_id}/reports/sources?{PERIOD}&group_by=source")
    ).json()
    assert body["currency"] == "RUB"
    assert body["unattributed_revenue"] == 5000.0
    assert body["set_apart"] == [
        {"currency": "EUR", "revenue": 120.0, "cost": 0.0},
        {"currency": "USD", "revenue": 0.0, "cost": 30.0},
    ]
    assert body["totals"]["revenue"] == 17000.0
    assert body["totals"]["romi"] == 2.0
