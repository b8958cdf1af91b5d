"""NUL bytes in any string of an admin API body: a 422 naming the field, nothing stored.

PostgreSQL refuses NUL in text and JSONB; before the shared check in InputModel each of these
was a 500 at the INSERT (SQLite stored them)."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.factories import create_site

SITE = {"name": "Shop", "domains": ["shop.example"], "country": "RU", "timezone": "Europe/Moscow"}


async def test_a_site_with_a_nul_byte_is_422_naming_the_field(client: AsyncClient) -> None:
    for body, field in (
        ({**SITE, "name": "Sh\x00op"}, "name"),
        ({**SITE, "domains": ["shop.example", "sh\x00op.example"]}, "domains"),
    ):
        response = await client.post("/api/v1/sites", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["detail"] == f"{field}: must not contain NUL bytes"
        assert response.json()["errors"][0]["field"] == field
    assert (await client.get("/api/v1/sites")).json()["items"] == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("", {"name": "New\x00name"}, "name"),
        (
            "/pools",
            {"target_number": "+7 495 123-45-67", "numbers": ["+7 495 000-00-01\x00"]},
            "numbers",
        ),
        (
            "/static-numbers",
            {
                "number": "+7 495 000-01-01",
                "kind": "source",
                "target_number": "+74951234567",
                "source": "goo\x00gle",
                "medium": "organic",
            },
            "source",
        ),
        ("/pbx", {"provider": "generic", "name": "\x00"}, "generic.name"),
        ("/pbx", {"provider": "twilio", "auth_token": "to\x00ken"}, "twilio.auth_token"),
        ("/crm", {"kind": "webhook", "url": "https://crm.example/in\x00"}, "webhook.url"),
        (
            "/deals",
            {
                "caller": "+79001234567",
                "external_id": "d\x001",
                "status": "won",
                "revenue": 1,
                "currency": "RUB",
            },
            "external_id",
        ),
    ],
)
async def test_every_body_refuses_nul_bytes(
    client: AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    site = await create_site(client)
    url = f"/api/v1/sites/{site['id']}{path}"

    response = await (client.patch(url, json=body) if not path else client.post(url, json=body))

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == f"{field}: must not contain NUL bytes"
    assert (await client.get(f"/api/v1/sites/{site['id']}")).json()["name"] == "Shop"
    if path in ("/pools", "/static-numbers", "/pbx", "/crm"):
        assert (await client.get(url)).json()["items"] == []
