"""Keyword-only factories that create things through the admin API, as a user would."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient


async def create_site(
    client: AsyncClient,
    *,
    name: str = "Shop",
    domains: list[str] | None = None,
    country: str = "RU",
    timezone: str = "Europe/Moscow",
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/sites",
        json={
            "name": name,
            "domains": domains or ["shop.example"],
            "country": country,
            "timezone": timezone,
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_pool(
    client: AsyncClient,
    site_id: str,
    *,
    target_number: str = "+7 495 123-45-67",
    numbers: list[str] | None = None,
    **settings: int,
) -> dict[str, Any]:
    numbers = numbers or ["+7 495 000-00-01", "+7 495 000-00-02", "+7 495 000-00-03"]
    response = await client.post(
        f"/api/v1/sites/{site_id}/pools",
        json={"target_number": target_number, "numbers": numbers, **settings},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
