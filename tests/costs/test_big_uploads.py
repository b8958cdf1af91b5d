"""Big ad-cost uploads: parsed off the event loop, and refused over the cap before parsing.

A 5 MB CSV was parsed on the event loop: /healthz took 8 s during one upload."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from httpx import AsyncClient

from app.costs import parsing
from app.costs import service as costs_service
from tests.factories import create_site

HEADER = "date,source,medium,campaign,cost,currency\n"


def big_csv(rows: int) -> bytes:
    lines = (
        f"2026-11-{1 + i % 28:02d},source{i % 50},cpc,campaign-{i},{i}.50,RUB" for i in range(rows)
    )
    return (HEADER + "\n".join(lines) + "\n").encode()


@pytest.fixture
async def site(client: AsyncClient) -> dict[str, Any]:
    return await create_site(client)


@pytest.mark.slow
async def test_healthz_answers_while_a_big_csv_is_parsed(
    client: AsyncClient,
    anonymous: AsyncClient,
    site: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real parser, held at its start until /healthz has answered: on the event loop the
    # hold would stall /healthz itself, and the wait would time out.
    parsing_started, healthz_answered = threading.Event(), threading.Event()
    answered_during_parse: list[bool] = []
    real_parse = parsing.parse_upload

    def held_parse(
        body: bytes, content_type: str, *, default_currency: str | None = None
    ) -> list[parsing.CostRow]:
        parsing_started.set()
        answered_during_parse.append(healthz_answered.wait(timeout=20))
        return real_parse(body, content_type, default_currency=default_currency)

    monkeypatch.setattr(costs_service, "parse_upload", held_parse)
    body = big_csv(40_000)  # about 2 MB, 40,000 rows: seconds of CPU on a loaded machine
    upload = asyncio.create_task(
        client.post(
            f"/api/v1/sites/{site['id']}/costs",
            content=body,
            headers={"Content-Type": "text/csv"},
            params={"dry_run": "true"},
        )
    )
    assert await asyncio.to_thread(parsing_started.wait, 20)

    health = await asyncio.wait_for(anonymous.get("/healthz"), timeout=20)
    healthz_answered.set()
    response = await upload

    assert health.status_code == 200
    assert answered_during_parse == [True]
    assert response.status_code == 200, response.text
    assert response.json()["inserted"] == 40_000


async def test_a_body_over_the_cap_is_413_naming_the_limit_before_parsing(
    client: AsyncClient, site: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[int] = []

    def counting_parse(body: bytes, content_type: str) -> list[parsing.CostRow]:
        parsed.append(len(body))
        return parsing.parse_upload(body, content_type)

    monkeypatch.setattr(costs_service, "parse_upload", counting_parse)
    over = HEADER.encode() + b"2026-11-01,yandex,cpc,sofas,1,RUB\n" * (parsing.MAX_BYTES // 34 + 1)
    assert len(over) > parsing.MAX_BYTES

    async def streamed() -> Any:
        # No Content-Length: the cap must hold while the body arrives, too.
        for start in range(0, len(over), 1024 * 1024):
            yield over[start : start + 1024 * 1024]

    url = f"/api/v1/sites/{site['id']}/costs"
    for content in (over, streamed()):
        response = await client.post(url, content=content, headers={"Content-Type": "text/csv"})
        assert response.status_code == 413
        assert response.json() == {"detail": "at most 10 MB per upload"}
    assert parsed == []
