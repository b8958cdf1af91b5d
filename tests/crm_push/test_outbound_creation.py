"""A connector whose address is loopback, private, link-local or a metadata service, in any
spelling, is refused when it is created: a 422 naming the field and why, and nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from app.config import Settings
from tests.crm_push.conftest import World


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Nothing allowed: the production default.
    return settings.model_copy(update={"outbound_allow": ""})


HINT = "add the host to CALLSOURCE_OUTBOUND_ALLOW to allow it"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"kind": "webhook", "url": "http://10.0.0.5/hook"},
            "url: 10.0.0.5 is a private address",
        ),
        (
            {"kind": "webhook", "url": "http://localhost:8080/hook"},
            "url: localhost resolves to a loopback address 127.0.0.1",
        ),
        (
            {"kind": "webhook", "url": "http://[::ffff:127.0.0.1]:8080/hook"},
            "url: ::ffff:127.0.0.1 is a loopback address (::ffff:7f00:1, that is 127.0.0.1)",
        ),
        (
            {"kind": "amocrm", "base_url": "http://2130706433", "token": "t0ken-value"},
            "base_url: 2130706433 is a loopback address (127.0.0.1)",
        ),
        (
            {"kind": "amocrm", "base_url": "http://0x7f.1:8000", "token": "t0ken-value"},
            "base_url: 0x7f.1 is a loopback address (127.0.0.1)",
        ),
        (
            {"kind": "bitrix24", "webhook_url": "http://169.254.169.254/rest/1/abcdef123/"},
            "webhook_url: 169.254.169.254 is a cloud metadata address",
        ),
        (
            {"kind": "webhook", "url": "http://100.64.0.9/hook"},
            "url: 100.64.0.9 is a carrier-grade NAT address",
        ),
        (
            {"kind": "webhook", "url": "http://[fe80::1]/hook"},
            "url: fe80::1 is a link-local address",
        ),
    ],
)
async def test_refused_addresses_are_a_422_naming_the_field_and_reason(
    world: World, client: AsyncClient, body: dict[str, Any], detail: str
) -> None:
    base = f"/api/v1/sites/{world.site['id']}/crm"

    response = await client.post(base, json=body)

    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(detail)
    assert response.json()["detail"].endswith(HINT)
    assert (await client.get(base)).json()["items"] == []


async def test_rotating_a_bitrix24_webhook_to_a_private_address_is_refused(
    world: World, client: AsyncClient
) -> None:
    base = f"/api/v1/sites/{world.site['id']}/crm"
    created = await client.post(
        base, json={"kind": "bitrix24", "webhook_url": "https://portal.bitrix24.ru/rest/1/abc123/"}
    )
    assert created.status_code == 201, created.text

    response = await client.patch(
        f"{base}/{created.json()['id']}", json={"webhook_url": "http://192.168.1.10/rest/1/abc/"}
    )

    assert response.status_code == 422
    assert response.json()["detail"].startswith("webhook_url: 192.168.1.10 is a private address")
    [connector] = (await client.get(base)).json()["items"]
    assert connector["config"]["portal"] == "https://portal.bitrix24.ru"


async def test_public_and_not_yet_resolvable_addresses_are_accepted(
    world: World, client: AsyncClient
) -> None:
    base = f"/api/v1/sites/{world.site['id']}/crm"
    for url in ("https://93.184.216.34/hook", "https://crm.invalid/hook"):
        response = await client.post(base, json={"kind": "webhook", "url": url})
        assert response.status_code == 201, response.text
