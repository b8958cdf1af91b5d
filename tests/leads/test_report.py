"""Form leads count in the sources report: leads by source and cost per lead."""

from __future__ import annotations

from httpx import AsyncClient

from tests.factories import create_site
from tests.leads.forms import enable_forms, send_form, visit


async def test_forms_are_leads_of_their_visits_channel(
    client: AsyncClient, anonymous: AsyncClient
) -> None:
    site = await create_site(client)
    await enable_forms(client, site)
    costs = await client.post(
        f"/api/v1/sites/{site['id']}/costs",
        content="date,source,medium,campaign,cost,currency\n2026-11-02,yandex,cpc,spring,900,RUB\n",
        headers={"Content-Type": "text/csv"},
    )
    assert costs.status_code == 200, costs.text
    for phone in ("+79161234567", "+79161234568", "+79161234569"):
        session = await visit(anonymous, site)
        sent = await send_form(anonymous, site, session["session_id"], fields={"phone": phone})
        assert sent.status_code == 201

    report = await client.get(
        f"/api/v1/sites/{site['id']}/reports/sources?from=2026-11-02&to=2026-11-02"
    )

    assert report.status_code == 200, report.text
    [row] = report.json()["rows"]
    assert (row["source"], row["medium"], row["campaign"]) == ("yandex", "cpc", "spring")
    assert (row["sessions"], row["calls"], row["leads"], row["form_leads"]) == (3, 0, 3, 3)
    assert row["cost"] == 900.0
    assert row["cost_per_lead"] == 300.0
    assert row["cost_per_call"] is None
    totals = report.json()["totals"]
    assert (totals["leads"], totals["form_leads"], totals["cost_per_lead"]) == (3, 3, 300.0)
