"""Pools and static numbers: E.164 storage, one place per number, nothing half-created."""

from __future__ import annotations

import uuid

import pytest
from httpx import AsyncClient

from tests.clock import ManualClock
from tests.factories import create_pool, create_site


@pytest.mark.parametrize(
    ("country", "written", "e164"),
    [
        ("RU", "+7 (495) 123-45-67", "+74951234567"),
        ("RU", "8 495 123-45-67", "+74951234567"),
        ("RU", "84951234567", "+74951234567"),
        ("RU", "+7-495-123-45-67", "+74951234567"),
        ("RU", "495 123 45 67", "+74951234567"),
        ("US", "(415) 555-2671", "+14155552671"),
        ("US", "415.555.2671", "+14155552671"),
        ("US", "+1 415 555 2671", "+14155552671"),
        ("US", "1-415-555-2671", "+14155552671"),
    ],
)
async def test_numbers_in_any_written_form_are_stored_in_e164(
    client: AsyncClient, country: str, written: str, e164: str
) -> None:
    site = await create_site(client, country=country)
    other = "+7 495 999-99-99" if country == "RU" else "(212) 555-0100"

    pool = await create_pool(client, site["id"], target_number=other, numbers=[written])

    assert pool["numbers"] == [e164]


async def test_pool_has_defaults_and_settings(client: AsyncClient, clock: ManualClock) -> None:
    site = await create_site(client)

    pool = await create_pool(client, site["id"])
    clock.advance(seconds=1)
    custom = await create_pool(
        client,
        site["id"],
        target_number="+7 495 765-43-21",
        numbers=["+7 495 000-00-09"],
        idle_timeout_s=120,
        cooldown_s=600,
        max_lease_s=3600,
    )

    assert pool["target_number"] == "+74951234567"
    assert pool["numbers"] == ["+74950000001", "+74950000002", "+74950000003"]
    assert (pool["idle_timeout_s"], pool["cooldown_s"], pool["max_lease_s"]) == (300, 900, 14400)
    assert (custom["idle_timeout_s"], custom["cooldown_s"], custom["max_lease_s"]) == (
        120,
        600,
        3600,
    )
    listed = (await client.get(f"/api/v1/sites/{site['id']}/pools")).json()["items"]
    assert [p["id"] for p in listed] == [pool["id"], custom["id"]]
    read = await client.get(f"/api/v1/sites/{site['id']}/pools/{pool['id']}")
    assert read.json() == pool


async def test_a_number_belongs_to_one_place_only(client: AsyncClient) -> None:
    shop = await create_site(client, name="Shop")
    other = await create_site(client, name="Other")
    pool = await create_pool(client, shop["id"], numbers=["+7 495 000-00-01"])

    same_site = await client.post(
        f"/api/v1/sites/{shop['id']}/static-numbers",
        json={"number": "8 (495) 000-00-01", "kind": "offline", "campaign": "flyers"},
    )
    other_site = await client.post(
        f"/api/v1/sites/{other['id']}/pools",
        json={"target_number": "+7 495 222-22-22", "numbers": ["+74950000001"]},
    )
    target_as_tracking = await client.post(
        f"/api/v1/sites/{other['id']}/static-numbers",
        json={"number": "+7 495 123-45-67", "kind": "offline", "campaign": "flyers"},
    )

    assert same_site.status_code == 409
    assert same_site.json()["detail"] == (
        f"number: +74950000001 is already a number of pool {pool['id']} on site 'Shop'"
    )
    assert other_site.status_code == 409
    assert "+74950000001" in other_site.json()["detail"]
    assert target_as_tracking.status_code == 409
    assert "target number of site 'Shop'" in target_as_tracking.json()["detail"]


async def test_nothing_half_created_behind_a_conflict(client: AsyncClient) -> None:
    site = await create_site(client)
    await create_pool(client, site["id"], numbers=["+7 495 000-00-01"])

    # The second number is taken: neither the pool nor its target nor the first number may stay.
    response = await client.post(
        f"/api/v1/sites/{site['id']}/pools",
        json={
            "target_number": "+7 495 777-77-77",
            "numbers": ["+7 495 000-00-05", "+7 495 000-00-01"],
        },
    )

    assert response.status_code == 409
    assert "numbers[1]" in response.json()["detail"]
    pools = (await client.get(f"/api/v1/sites/{site['id']}/pools")).json()["items"]
    assert len(pools) == 1
    # +7 495 000-00-05 was not kept: it can be used now.
    retry = await client.post(
        f"/api/v1/sites/{site['id']}/static-numbers",
        json={"number": "+7 495 000-00-05", "kind": "offline", "campaign": "radio"},
    )
    assert retry.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target_number": "not a number", "numbers": ["+74950000001"]}, "target_number"),
        ({"target_number": "+74951234567", "numbers": ["12"]}, "numbers[0]"),
        (
            {"target_number": "+74951234567", "numbers": ["+74950000001", "84950000001"]},
            "numbers[1]",
        ),
        ({"target_number": "+74951234567", "numbers": []}, "numbers"),
        (
            {"target_number": "+74951234567", "numbers": ["+74950000001"], "cooldown_s": -1},
            "cooldown_s",
        ),
        (
            {
                "target_number": "+74951234567",
                "numbers": ["+74950000001"],
                "idle_timeout_s": 600,
                "max_lease_s": 300,
            },
            "max_lease_s",
        ),
    ],
)
async def test_bad_pool_field_is_422_naming_it(
    client: AsyncClient, body: dict[str, object], field: str
) -> None:
    site = await create_site(client)

    response = await client.post(f"/api/v1/sites/{site['id']}/pools", json=body)

    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert (await client.get(f"/api/v1/sites/{site['id']}/pools")).json()["items"] == []


async def test_one_live_pool_per_target(client: AsyncClient) -> None:
    site = await create_site(client)
    pool = await create_pool(client, site["id"])

    second = await client.post(
        f"/api/v1/sites/{site['id']}/pools",
        json={"target_number": "8 495 123 45 67", "numbers": ["+7 495 000-00-08"]},
    )

    assert second.status_code == 409
    assert pool["id"] in second.json()["detail"]


async def test_update_pool_settings_and_numbers(client: AsyncClient) -> None:
    site = await create_site(client)
    pool = await create_pool(client, site["id"], numbers=["+7 495 000-00-01", "+7 495 000-00-02"])

    response = await client.patch(
        f"/api/v1/sites/{site['id']}/pools/{pool['id']}",
        json={"numbers": ["+7 495 000-00-02", "+7 495 000-00-03"], "cooldown_s": 60},
    )

    assert response.status_code == 200
    assert response.json()["numbers"] == ["+74950000002", "+74950000003"]
    assert response.json()["cooldown_s"] == 60
    # The number taken out of the pool is free for another use.
    reuse = await client.post(
        f"/api/v1/sites/{site['id']}/static-numbers",
        json={"number": "+7 495 000-00-01", "kind": "offline", "campaign": "tv"},
    )
    assert reuse.status_code == 201


async def test_retire_pool_frees_its_numbers_and_target(client: AsyncClient) -> None:
    site = await create_site(client)
    pool = await create_pool(client, site["id"])

    retired = await client.delete(f"/api/v1/sites/{site['id']}/pools/{pool['id']}")

    assert retired.status_code == 200
    assert retired.json()["retired_at"] is not None
    assert (await client.get(f"/api/v1/sites/{site['id']}/pools")).json()["items"] == []
    again = await create_pool(client, site["id"])
    assert again["numbers"] == pool["numbers"]


async def test_static_source_and_offline_numbers(client: AsyncClient) -> None:
    site = await create_site(client)

    source = await client.post(
        f"/api/v1/sites/{site['id']}/static-numbers",
        json={
            "number": "+7 495 000-01-01",
            "kind": "source",
            "target_number": "+7 495 123-45-67",
            "source": "google",
            "medium": "cpc",
        },
    )
    offline = await client.post(
        f"/api/v1/sites/{site['id']}/static-numbers",
        json={"number": "+7 495 000-02-01", "kind": "offline", "campaign": "metro-flyers"},
    )

    assert source.status_code == 201, source.text
    assert source.json()["number"] == "+74950000101"
    assert source.json()["target_number"] == "+74951234567"
    assert (source.json()["source"], source.json()["medium"]) == ("google", "cpc")
    assert offline.status_code == 201
    assert offline.json()["kind"] == "offline"
    assert (offline.json()["source"], offline.json()["campaign"]) == ("offline", "metro-flyers")
    listed = (await client.get(f"/api/v1/sites/{site['id']}/static-numbers")).json()["items"]
    assert [n["number"] for n in listed] == ["+74950000101", "+74950000201"]

    twin = await client.post(
        f"/api/v1/sites/{site['id']}/static-numbers",
        json={
            "number": "+7 495 000-01-02",
            "kind": "source",
            "target_number": "+7 495 123-45-67",
            "source": "google",
            "medium": "cpc",
        },
    )
    assert twin.status_code == 409

    patched = await client.patch(
        f"/api/v1/sites/{site['id']}/static-numbers/{offline.json()['id']}",
        json={"campaign": "autumn-flyers"},
    )
    assert patched.json()["campaign"] == "autumn-flyers"
    retired = await client.delete(
        f"/api/v1/sites/{site['id']}/static-numbers/{source.json()['id']}"
    )
    assert retired.json()["retired_at"] is not None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"number": "+74950000101", "kind": "source", "source": "google"}, "target_number"),
        ({"number": "+74950000101", "kind": "source", "target_number": "+74951234567"}, "source"),
        ({"number": "+74950000101", "kind": "offline"}, "campaign"),
        ({"number": "+74950000101", "kind": "billboard", "campaign": "x"}, "kind"),
    ],
)
async def test_bad_static_number_is_422(
    client: AsyncClient, body: dict[str, object], message: str
) -> None:
    site = await create_site(client)
    response = await client.post(f"/api/v1/sites/{site['id']}/static-numbers", json=body)
    assert response.status_code == 422
    assert message in response.json()["detail"]


async def test_unknown_ids_are_404(client: AsyncClient) -> None:
    site = await create_site(client)
    other = await create_site(client, name="Other")
    pool = await create_pool(client, site["id"])
    missing = uuid.uuid4()

    assert (await client.get(f"/api/v1/sites/{missing}/pools")).status_code == 404
    assert (await client.get(f"/api/v1/sites/{site['id']}/pools/{missing}")).status_code == 404
    # A pool is only reachable under its own site.
    assert (await client.get(f"/api/v1/sites/{other['id']}/pools/{pool['id']}")).status_code == 404
    assert (
        await client.get(f"/api/v1/sites/{site['id']}/static-numbers/{missing}")
    ).status_code == 404
    created = await client.post(
        f"/api/v1/sites/{missing}/pools",
        json={"target_number": "+74951234567", "numbers": ["+74950000001"]},
    )
    assert created.status_code == 404
