"""The sites admin API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid

import pytest
from httpx import AsyncClient

from tests.clock import ManualClock
from tests.conftest import PUBLIC_URL
from tests.factories import create_site

SITE = {"name": "Shop", "domains": ["shop.example"], "country": "RU", "timezone": "Europe/Moscow"}


async def test_create_site_returns_key_and_snippet(client: AsyncClient) -> None:
    response = await client.post("/api/v1/sites", json=SITE)

    assert response.status_code == 201
    site = response.json()
    assert site["name"] == "Shop"
    assert site["domains"] == ["shop.example"]
    assert site["country"] == "RU"
    assert site["timezone"] == "Europe/Moscow"
    assert site["public_key"].startswith("cs_")
    assert site["snippet"] == (
        f'<script async src="{PUBLIC_URL}/t/tracker.js" data-site="{site["public_key"]}"></script>'
    )
    assert site["created_at"].endswith("Z")
    assert site["retired_at"] is None


@pytest.mark.parametrize(
    ("country", "given", "expected"),
    [("RU", None, "RUB"), ("ES", None, "EUR"), ("MX", None, "MXN"), ("RU", "usd", "USD")],
)
async def test_a_site_reports_in_its_countrys_currency_unless_told(
    client: AsyncClient, country: str, given: str | None, expected: str
) -> None:
    body = {**SITE, "country": country} | ({"currency": given} if given else {})
    site = (await client.post("/api/v1/sites", json=body)).json()
    assert site["currency"] == expected

    changed = await client.patch(f"/api/v1/sites/{site['id']}", json={"currency": "EUR"})
    assert changed.json()["currency"] == "EUR"


async def test_created_site_is_listed_and_readable(client: AsyncClient, clock: ManualClock) -> None:
    first = await create_site(client, name="First")
    clock.advance(seconds=1)
    second = await create_site(client, name="Second")

    listed = (await client.get("/api/v1/sites")).json()["items"]
    read = (await client.get(f"/api/v1/sites/{second['id']}")).json()

    assert [s["id"] for s in listed] == [first["id"], second["id"]]
    assert read == second


async def test_public_keys_are_unique(client: AsyncClient) -> None:
    keys = {(await create_site(client, name=f"S{i}"))["public_key"] for i in range(5)}
    assert len(keys) == 5


async def test_domains_are_normalised(client: AsyncClient) -> None:
    site = await create_site(
        client, domains=["https://WWW.Shop.Example/contacts", "shop.example", "мой-сайт.рф"]
    )
    assert site["domains"] == ["shop.example", "xn----8sbzclmxk.xn--p1ai"]


async def test_update_site(client: AsyncClient) -> None:
    site = await create_site(client)

    response = await client.patch(
        f"/api/v1/sites/{site['id']}", json={"name": "Shop 2", "timezone": "Asia/Yekaterinburg"}
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Shop 2"
    assert response.json()["timezone"] == "Asia/Yekaterinburg"
    assert response.json()["domains"] == ["shop.example"]


async def test_retire_site_hides_it_from_the_list(client: AsyncClient) -> None:
    site = await create_site(client)

    retired = await client.delete(f"/api/v1/sites/{site['id']}")

    assert retired.status_code == 200
    assert retired.json()["retired_at"] is not None
    assert (await client.get("/api/v1/sites")).json()["items"] == []
    everything = (await client.get("/api/v1/sites?include_retired=true")).json()["items"]
    assert [s["id"] for s in everything] == [site["id"]]
    # A retired site cannot be changed any more.
    assert (
        await client.patch(f"/api/v1/sites/{site['id']}", json={"name": "x"})
    ).status_code == 404


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("country", "XX", "country"),
        ("country", "RUS", "country"),
        ("timezone", "Mars/Olympus", "timezone"),
        ("domains", [], "domains"),
        ("domains", ["not a domain!"], "domains"),
        ("name", "", "name"),
        ("currency", "XYZ", "currency"),
        ("currency", "RUBL", "currency"),
    ],
)
async def test_bad_field_is_422_naming_it(
    client: AsyncClient, field: str, value: object, message: str
) -> None:
    response = await client.post("/api/v1/sites", json={**SITE, field: value})

    assert response.status_code == 422
    assert response.json()["detail"].startswith(message)
    assert (await client.get("/api/v1/sites")).json()["items"] == []


async def test_unknown_field_is_rejected(client: AsyncClient) -> None:
    response = await client.post("/api/v1/sites", json={**SITE, "domians": ["x.example"]})
    assert response.status_code == 422
    assert "domians" in response.json()["detail"]


async def test_invalid_json_is_422(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/sites", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["detail"]


async def test_unknown_site_is_404(client: AsyncClient) -> None:
    missing = uuid.uuid4()
    response = await client.get(f"/api/v1/sites/{missing}")
    assert response.status_code == 404
    assert str(missing) in response.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": "Basic abc"}],
)
async def test_admin_api_needs_the_token(anonymous: AsyncClient, headers: dict[str, str]) -> None:
    assert (await anonymous.get("/api/v1/sites", headers=headers)).status_code == 401
    created = await anonymous.post("/api/v1/sites", json=SITE, headers=headers)
    assert created.status_code == 401
    assert "detail" in created.json()


async def test_json_sent_by_curl_without_a_content_type_is_read(client: AsyncClient) -> None:
    # `curl -d '{...}'` labels JSON as a form; the admin API takes no forms.
    response = await client.post(
        "/api/v1/sites",
        content=json.dumps(SITE),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    not_json = await client.post(
        "/api/v1/sites",
        content=b"name=Shop&country=RU",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 201
    assert response.json()["name"] == "Shop"
    assert not_json.status_code == 422
    assert "JSON" in not_json.json()["detail"]
