"""CRM connectors through the admin API: tokens and webhook secrets are write-only."""

from __future__ import annotations

import uuid

import pytest
from httpx import AsyncClient

from tests.factories import create_site

BITRIX_URL = "https://portal.bitrix24.ru/rest/1/abcdef123456/"


async def test_amocrm_connector_hides_its_token(client: AsyncClient) -> None:
    site = await create_site(client)

    created = await client.post(
        f"/api/v1/sites/{site['id']}/crm",
        json={
            "kind": "amocrm",
            "base_url": "https://shop.amocrm.ru/",
            "token": "amo-long-lived-token",
            "pipeline_id": 7,
        },
    )
    read = await client.get(f"/api/v1/sites/{site['id']}/crm/{created.json()['id']}")

    assert created.status_code == 201
    assert created.json()["config"] == {"base_url": "https://shop.amocrm.ru", "pipeline_id": 7}
    for response in (created, read):
        assert "amo-long-lived-token" not in response.text


async def test_bitrix24_webhook_url_is_a_secret(client: AsyncClient) -> None:
    site = await create_site(client)

    created = await client.post(
        f"/api/v1/sites/{site['id']}/crm", json={"kind": "bitrix24", "webhook_url": BITRIX_URL}
    )

    assert created.status_code == 201
    assert created.json()["config"] == {"portal": "https://portal.bitrix24.ru"}
    assert "abcdef123456" not in created.text


async def test_webhook_connector_shows_its_secret_once(client: AsyncClient) -> None:
    site = await create_site(client)

    created = await client.post(
        f"/api/v1/sites/{site['id']}/crm", json={"kind": "webhook", "url": "https://crm.example/in"}
    )
    listed = await client.get(f"/api/v1/sites/{site['id']}/crm")

    assert created.status_code == 201
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    assert secret not in listed.text
    assert listed.json()["items"][0]["config"] == {"url": "https://crm.example/in"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "salesforce"}, "kind"),
        ({"kind": "amocrm", "base_url": "ftp://x", "token": "t"}, "base_url"),
        ({"kind": "amocrm", "base_url": "https://x.amocrm.ru"}, "token"),
        ({"kind": "bitrix24", "webhook_url": "https://portal.bitrix24.ru/crm/"}, "webhook_url"),
        ({"kind": "webhook", "url": "not a url"}, "url"),
    ],
)
async def test_bad_connector_is_422_naming_the_field(
    client: AsyncClient, body: dict[str, object], field: str
) -> None:
    site = await create_site(client)
    response = await client.post(f"/api/v1/sites/{site['id']}/crm", json=body)
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert (await client.get(f"/api/v1/sites/{site['id']}/crm")).json()["items"] == []


async def test_update_retire_and_404(client: AsyncClient) -> None:
    site = await create_site(client)
    created = (
        await client.post(
            f"/api/v1/sites/{site['id']}/crm",
            json={"kind": "webhook", "url": "https://crm.example/in"},
        )
    ).json()
    base = f"/api/v1/sites/{site['id']}/crm/{created['id']}"

    assert (await client.patch(base, json={"name": "Main CRM"})).json()["name"] == "Main CRM"
    assert (await client.delete(base)).json()["retired_at"] is not None
    assert (await client.get(f"/api/v1/sites/{site['id']}/crm")).json()["items"] == []
    assert (await client.get(f"/api/v1/sites/{site['id']}/crm/{uuid.uuid4()}")).status_code == 404
