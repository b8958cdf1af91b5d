"""The onboarding checklist of an empty site's Overview turns green from real data."""

from __future__ import annotations

import re

from httpx import AsyncClient

from tests.dashboard.conftest import csrf_of
from tests.dashboard.test_setup_numbers import _post
from tests.dashboard.test_setup_sites import _admin, _create


def _steps(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-step="(\w+)" data-done="(yes|no)"', html))


async def test_the_checklist_follows_what_is_set_up(visitor: AsyncClient) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    overview = await visitor.get(f"/sites/{site_id}/overview")
    assert overview.status_code == 200
    assert _steps(overview.text) == {
        "snippet": "no",
        "numbers": "no",
        "pbx": "no",
        "crm": "no",
        "costs": "no",
    }
    assert f'href="/sites/{site_id}/numbers"' in overview.text

    assert (await _post(visitor, site_id))[0] == 303
    page = await visitor.get(f"/sites/{site_id}/costs")
    imported = await visitor.post(
        f"/sites/{site_id}/costs/import",
        data={
            "csrf_token": csrf_of(page.text),
            "csv_text": "date,source,medium,campaign,cost,currency\n"
            "2026-11-01,yandex,cpc,sofas,1500.00,RUB\n",
        },
    )
    assert imported.status_code == 303, imported.text
    steps = _steps((await visitor.get(f"/sites/{site_id}/overview")).text)
    assert (steps["numbers"], steps["costs"], steps["pbx"]) == ("yes", "yes", "no")
