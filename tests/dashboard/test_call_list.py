"""The call list pages through every call of the period (50 a page, newest first), keeps its
filters in the URL, and downloads the same calls as CSV; the sources table downloads too.
Both databases."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from html import unescape

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.dashboard.test_setup_sites import _admin, _create, _site
from tests.reports.rows import create_call, create_integration

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WEEK = "from=2026-11-01&to=2026-11-30"
ROW = re.compile(r'<tr data-call="([0-9a-f-]+)">')
HREF = re.compile(r'href="([^"]+)"[^>]*data-testid="{}"')


def _ids(html: str) -> list[str]:
    return ROW.findall(html)


def _link(html: str, testid: str) -> str | None:
    found = re.search(HREF.pattern.format(testid), html)
    return unescape(found.group(1)) if found else None


async def _calls(visitor: AsyncClient, db: AsyncSession) -> tuple[str, dict[str, set[str]]]:
    """A site with 130 calls over November: 75 from yandex (every third of them missed), 40
    from google, 15 no visit explains."""
    await _admin(visitor)
    site_id = await _create(visitor)
    site = await _site(db, site_id)
    pbx = await create_integration(db, site=site)
    made: dict[str, set[str]] = {"yandex": set(), "google": set(), "": set(), "missed": set()}
    for i in range(130):
        source = "yandex" if i < 75 else ("google" if i < 115 else None)
        missed = source == "yandex" and i % 3 == 0
        call = await create_call(
            db,
            site=site,
            integration=pbx,
            # Some at the very same moment: the order must still be total.
            at=START + timedelta(hours=i // 2),
            method="source" if source else None,
            source=source,
            medium="cpc" if source else None,
            outcome="missed" if missed else "answered",
            caller=f"+7916{i:07d}",
        )
        made[source or ""].add(str(call.id))
        if missed:
            made["missed"].add(str(call.id))
    await db.commit()
    return site_id, made


async def test_the_list_pages_through_every_call_with_its_filters(
    visitor: AsyncClient, db: AsyncSession
) -> None:
    site_id, made = await _calls(visitor, db)
    first = await visitor.get(f"/sites/{site_id}/calls?{WEEK}&source=yandex")
    assert first.status_code == 200
    assert "1–50 of 75 calls" in first.text
    assert "Page 1 of 2" in first.text
    assert _link(first.text, "prev") is None
    next_link = _link(first.text, "next")
    assert next_link is not None
    # The link keeps the period and the filter.
    assert "source=yandex" in next_link
    assert "from=2026-11-01" in next_link
    assert "page=2" in next_link
    second = await visitor.get(f"/sites/{site_id}/calls{next_link}")
    assert "51–75 of 75 calls" in second.text
    assert _link(second.text, "next") is None
    assert _link(second.text, "prev") is not None
    seen = _ids(first.text) + _ids(second.text)
    assert len(seen) == 75
    assert set(seen) == made["yandex"]  # every call once, no other source

    # Filters combine; the form shows them as chosen.
    missed = await visitor.get(f"/sites/{site_id}/calls?{WEEK}&source=yandex&outcome=missed")
    assert set(_ids(missed.text)) == made["missed"]
    assert f"1–{len(made['missed'])} of {len(made['missed'])} calls" in missed.text
    assert '<option value="missed" selected>' in missed.text
    assert 'data-testid="pager"' not in missed.text

    # All 130, over three pages; a page past the end is empty, not an error.
    everything = await visitor.get(f"/sites/{site_id}/calls?{WEEK}&page=3")
    assert "101–130 of 130 calls" in everything.text
    past = await visitor.get(f"/sites/{site_id}/calls?{WEEK}&page=9")
    assert past.status_code == 200
    assert _ids(past.text) == []
    assert (await visitor.get(f"/sites/{site_id}/calls?page=0")).status_code == 422

    # The caller filter finds digits anywhere in the number.
    one = await visitor.get(f"/sites/{site_id}/calls?{WEEK}&caller=916 000 0120")
    assert len(_ids(one.text)) == 1


async def test_csv_downloads_hold_the_filtered_calls(
    visitor: AsyncClient, client: AsyncClient, db: AsyncSession
) -> None:
    site_id, made = await _calls(visitor, db)
    page = await visitor.get(f"/sites/{site_id}/calls?{WEEK}&source=google&first_time=true")
    href = _link(page.text, "calls-csv")
    assert href is not None
    assert href.startswith(f"/sites/{site_id}/calls.csv?")
    assert "source=google" in href
    assert "first_time=true" in href
    download = await visitor.get(href)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert "calls-2026-11-01-2026-11-30.csv" in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.text.lstrip("\ufeff"))))
    assert {row["id"] for row in rows} == made["google"]
    assert {row["source"] for row in rows} == {"google"}

    # The API's export takes the same filters.
    api = await client.get(
        f"/api/v1/sites/{site_id}/exports/calls.csv?{WEEK}&source=yandex&outcome=missed"
    )
    api_rows = list(csv.DictReader(io.StringIO(api.text.lstrip("\ufeff"))))
    assert {row["id"] for row in api_rows} == made["missed"]

    # Signed out: no download.
    visitor.cookies.clear()
    signed_out = await visitor.get(href)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/login")


async def test_the_sources_table_downloads_as_csv(
    visitor: AsyncClient, client: AsyncClient, db: AsyncSession
) -> None:
    site_id, _made = await _calls(visitor, db)
    page = await visitor.get(f"/sites/{site_id}/sources?{WEEK}&group_by=medium")
    href = _link(page.text, "sources-csv")
    assert href is not None
    assert "group_by=medium" in href
    download = await visitor.get(href)
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(download.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["source", "medium", "sessions"]
    assert rows[0][-1] == "currency"
    by_source = {row[0]: row for row in rows[1:]}
    assert by_source["yandex"][3] == "75"  # calls
    assert by_source["google"][3] == "40"
    assert by_source["(none)"][3] == "15"
    assert by_source["total"][3] == "130"
    assert {row[-1] for row in rows[1:]} == {"RUB"}
    api = await client.get(f"/api/v1/sites/{site_id}/exports/sources.csv?{WEEK}&group_by=medium")
    assert api.status_code == 200
    assert api.text == download.text
