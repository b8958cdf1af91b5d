"""PBX integrations through the admin API: per-provider credentials, write-only."""

from __future__ import annotations

import base64
import uuid

import pytest
from httpx import AsyncClient

from tests.conftest import PUBLIC_URL
from tests.factories import create_site

ED25519_PUBLIC_KEY = base64.b64encode(bytes(range(32))).decode()

CREDENTIALS = {
    "twilio": {"auth_token": "twilio-auth-token-value"},
    "zadarma": {"api_secret": "zadarma-secret-value", "timezone": "Europe/Moscow"},
    "mango": {"api_key": "mango-key-value", "api_salt": "mango-salt-value"},
    "telnyx": {"public_key": ED25519_PUBLIC_KEY},
}


async def test_generic_integration_shows_its_secret_once(client: AsyncClient) -> None:
    site = await create_site(client)

    created = await client.post(f"/api/v1/sites/{site['id']}/pbx", json={"provider": "generic"})

    assert created.status_code == 201
    body = created.json()
    assert body["provider"] == "generic"
    assert body["webhook_url"] == f"{PUBLIC_URL}/hooks/pbx/{body['id']}"
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"))) == 32
    read = (await client.get(f"/api/v1/sites/{site['id']}/pbx/{body['id']}")).json()
    assert "secret" not in read
    assert body["secret"] not in str(read)


@pytest.mark.parametrize("provider", sorted(CREDENTIALS))
async def test_provider_credentials_are_write_only(client: AsyncClient, provider: str) -> None:
    site = await create_site(client)
    credentials = CREDENTIALS[provider]

    created = await client.post(
        f"/api/v1/sites/{site['id']}/pbx", json={"provider": provider, **credentials}
    )
    listed = await client.get(f"/api/v1/sites/{site['id']}/pbx")

    assert created.status_code == 201, created.text
    for text in (created.text, listed.text):
        for name, value in credentials.items():
            if name != "timezone":
                assert value not in text
    assert listed.json()["items"][0]["provider"] == provider


async def test_zadarma_timezone_is_a_visible_setting(client: AsyncClient) -> None:
    site = await create_site(client)
    created = await client.post(
        f"/api/v1/sites/{site['id']}/pbx",
        json={"provider": "zadarma", "api_secret": "s3cret", "timezone": "Asia/Novosibirsk"},
    )
    assert created.json()["settings"] == {"timezone": "Asia/Novosibirsk"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "skype"}, "provider"),
        ({"provider": "twilio"}, "auth_token"),
        ({"provider": "mango", "api_key": "k"}, "api_salt"),
        ({"provider": "telnyx", "public_key": "not base64!"}, "public_key"),
        ({"provider": "telnyx", "public_key": base64.b64encode(b"short").decode()}, "public_key"),
        ({"provider": "zadarma", "api_secret": "s", "timezone": "Nowhere/City"}, "timezone"),
    ],
)
async def test_bad_integration_is_422_naming_the_field(
    client: AsyncClient, body: dict[str, object], field: str
) -> None:
    site = await create_site(client)
    response = await client.post(f"/api/v1/sites/{site['id']}/pbx", json=body)
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert (await client.get(f"/api/v1/sites/{site['id']}/pbx")).json()["items"] == []


async def test_rotate_update_and_retire(client: AsyncClient) -> None:
    site = await create_site(client)
    created = (
        await client.post(f"/api/v1/sites/{site['id']}/pbx", json={"provider": "generic"})
    ).json()
    base = f"/api/v1/sites/{site['id']}/pbx/{created['id']}"

    rotated = await client.post(f"{base}/secret")
    renamed = await client.patch(base, json={"name": "Office Asterisk"})
    retired = await client.delete(base)

    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != created["secret"]
    assert renamed.json()["name"] == "Office Asterisk"
    assert retired.json()["retired_at"] is not None
    assert (await client.get(f"/api/v1/sites/{site['id']}/pbx")).json()["items"] == []


async def test_unknown_integration_is_404(client: AsyncClient) -> None:
    site = await create_site(client)
    response = await client.get(f"/api/v1/sites/{site['id']}/pbx/{uuid.uuid4()}")
    assert response.status_code == 404
