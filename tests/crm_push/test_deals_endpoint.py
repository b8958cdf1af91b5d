"""POST /api/v1/sites/{site_id}/deals: any CRM reports outcomes against a call, by call id or
by the caller's latest call; the same external_id updates."""

from __future__ import annotations

import uuid

from httpx import AsyncClient

from tests.clock import ManualClock
from tests.crm_push.conftest import CALLER, World


async def test_a_deal_by_call_id_then_updated_by_its_external_id(
    world: World, client: AsyncClient, clock: ManualClock
) -> None:
    call = await world.call()
    url = f"/api/v1/sites/{world.site['id']}/deals"
    body = {
        "call_id": str(call.id),
        "external_id": "crm-1",
        "status": "open",
        "revenue": "0",
        "currency": "rub",
    }

    opened = await client.post(url, json=body)
    clock.advance(days=3)
    won = await client.post(url, json={**body, "call_id": None, "status": "won", "revenue": 1500.5})

    assert opened.status_code == 201, opened.text
    assert opened.json()["closed_at"] is None
    assert won.status_code == 200
    deal = won.json()
    assert deal["id"] == opened.json()["id"]
    assert (deal["status"], deal["revenue"], deal["currency"]) == ("won", 1500.5, "RUB")
    assert deal["call_id"] == str(call.id)
    assert deal["source"] == "yandex"
    assert deal["closed_at"] == "2026-11-05T09:31:05Z"
    assert len((await client.get(url)).json()["items"]) == 1


async def test_a_deal_by_caller_goes_to_the_latest_call(world: World, client: AsyncClient) -> None:
    await world.call()
    latest = await world.call()

    response = await client.post(
        f"/api/v1/sites/{world.site['id']}/deals",
        json={
            "caller": "8 (900) 123-45-67",
            "external_id": "crm-2",
            "status": "lost",
            "revenue": 0,
            "currency": "RUB",
        },
    )

    assert response.status_code == 201, response.text
    assert response.json()["call_id"] == str(latest.id)
    listed = await client.get(
        f"/api/v1/sites/{world.site['id']}/deals", params={"call_id": str(latest.id)}
    )
    assert [d["external_id"] for d in listed.json()["items"]] == ["crm-2"]
    assert CALLER not in response.text  # a deal shows its call, not the caller


async def test_bad_deals_are_refused_and_nothing_is_kept(world: World, client: AsyncClient) -> None:
    url = f"/api/v1/sites/{world.site['id']}/deals"
    base = {"external_id": "x", "status": "won", "revenue": 1, "currency": "RUB"}

    no_call = await client.post(url, json=base)
    bad_phone = await client.post(url, json={**base, "caller": "not a phone"})
    unknown_caller = await client.post(url, json={**base, "caller": "+79990000000"})
    unknown_call = await client.post(url, json={**base, "call_id": str(uuid.uuid4())})
    bad_status = await client.post(url, json={**base, "call_id": None, "status": "maybe"})
    negative = await client.post(url, json={**base, "revenue": -1, "caller": CALLER})

    assert no_call.status_code == 422
    assert "call_id" in no_call.json()["detail"]
    assert bad_phone.status_code == 422
    assert "caller" in bad_phone.json()["detail"]
    assert unknown_caller.status_code == 404
    assert unknown_call.status_code == 404
    assert bad_status.status_code == 422
    assert "status" in bad_status.json()["detail"]
    assert negative.status_code == 422
    assert "revenue" in negative.json()["detail"]
    assert (await client.get(url)).json()["items"] == []
    assert (await client.get(f"/api/v1/sites/{uuid.uuid4()}/deals")).status_code == 404
