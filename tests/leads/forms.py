"""Helpers for the form tests: a visit through the tracker API, a form sent from it."""

from __future__ import annotations

import json
from typing import Any

from httpx import AsyncClient, Response

BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
ORIGIN = "https://shop.example"
LANDING = "https://shop.example/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring"


def _headers(origin: str | None) -> dict[str, str]:
    headers = {"Content-Type": "text/plain", "User-Agent": BROWSER}
    if origin:
        headers["Origin"] = origin
    return headers


async def visit(http: AsyncClient, site: dict[str, Any], *, url: str = LANDING) -> dict[str, Any]:
    response = await http.post(
        f"/t/{site['public_key']}/sessions",
        content=json.dumps({"url": url, "referrer": "https://yandex.ru/"}),
        headers=_headers(ORIGIN),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def send_form(
    http: AsyncClient,
    site: dict[str, Any],
    session_id: str,
    *,
    origin: str | None = ORIGIN,
    **body: Any,
) -> Response:
    body.setdefault("url", "https://shop.example/contact")
    return await http.post(
        f"/t/{site['public_key']}/sessions/{session_id}/forms",
        content=json.dumps(body),
        headers=_headers(origin),
    )


async def enable_forms(
    client: AsyncClient, site: dict[str, Any], *, consent_required: bool = False
) -> None:
    response = await client.patch(
        f"/api/v1/sites/{site['id']}",
        json={"forms_enabled": True, "forms_consent_required": consent_required},
    )
    assert response.status_code == 200, response.text
