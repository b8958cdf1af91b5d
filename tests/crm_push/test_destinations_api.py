"""The destinations admin API, on SQLite and PostgreSQL: each kind created with only what it
needs, credentials write-only and sealed at rest, bad input a 422 naming the field with
nothing stored, the CRM API blind to destinations (and the other way round), deliveries
listed by status and a dead one retried."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import create_engine
from crm_push.worker import Worker
from tests.clock import ManualClock
from tests.crm_push import fake_platforms as fp
from tests.crm_push.conftest import run_until_settled
from tests.crm_push.destinations_world import Destinations

GA4 = {"kind": "ga4", "measurement_id": "G-ABC123DEF4", "api_secret": "ga4-api-secret-1"}
METRIKA = {"kind": "yandex_metrika", "counter_id": 12345678, "token": "y0_AgAAAA-metrika-token"}
ADS = {
    "kind": "google_ads",
    "customer_id": "123-456-7890",
    "conversion_action": "customers/1234567890/conversionActions/555",
    "developer_token": "dev-token-0123456789",
    "client_id": "42-abc.apps.googleusercontent.com",
    "client_secret": "GOCSPX-secret-value",
    "refresh_token": "1//refresh-token-value",
}
SECRETS = (
    "ga4-api-secret-1",
    "y0_AgAAAA-metrika-token",
    "dev-token-0123456789",
    "GOCSPX-secret-value",
    "1//refresh-token-value",
)


def _base(dest: Destinations) -> str:
    return f"/api/v1/sites/{dest.sid}/destinations"


async def test_each_kind_is_created_with_credentials_write_only(
    dest: Destinations, client: AsyncClient, database_url: str
) -> None:
    created = {}
    for body in (GA4, METRIKA, ADS):
        response = await client.post(_base(dest), json=body)
        assert response.status_code == 201, response.text
        created[body["kind"]] = response.json()

    assert created["ga4"]["config"] == {
        "measurement_id": "G-ABC123DEF4",
        "event_name": "phone_call",
        "deal_event_name": "purchase",
    }
    assert created["yandex_metrika"]["config"] == {
        "counter_id": 12345678,
        "target": "call",
        "deal_target": "deal_won",
        "upload_calls": False,
    }
    assert created["google_ads"]["config"]["customer_id"] == "1234567890"
    assert created["google_ads"]["config"]["conversion_action_id"] == "555"
    assert created["ga4"]["rule"] == {
        "min_talk_s": 0,
        "first_time_only": False,
        "answered_only": True,
        "exclude_spam": True,
        "send_value": True,
    }
    listed = (await client.get(_base(dest))).json()["items"]
    one = (await client.get(f"{_base(dest)}/{created['google_ads']['id']}")).json()
    shown = json.dumps([created, listed, one])
    assert not any(secret in shown for secret in SECRETS)
    assert sorted(d["kind"] for d in listed) == ["ga4", "google_ads", "yandex_metrika"]

    # Sealed at rest: the column holds Fernet tokens, no secret in plain text.
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            raw = [
                str(v)
                for (v,) in await connection.execute(text("SELECT credentials FROM crm_connectors"))
            ]
    finally:
        await engine.dispose()
    assert len(raw) == 3
    assert all(value.startswith("gAAAA") for value in raw)
    assert not any(secret in value for secret in SECRETS for value in raw)


async def test_the_crm_api_does_not_show_destinations_nor_the_other_way_round(
    dest: Destinations, client: AsyncClient
) -> None:
    destination = (await client.post(_base(dest), json=GA4)).json()
    crm_base = f"/api/v1/sites/{dest.sid}/crm"
    crm = await client.post(crm_base, json={"kind": "webhook", "url": "https://93.184.216.34/h"})
    assert crm.status_code == 201, crm.text

    assert [c["id"] for c in (await client.get(crm_base)).json()["items"]] == [crm.json()["id"]]
    assert [d["id"] for d in (await client.get(_base(dest))).json()["items"]] == [destination["id"]]
    assert (await client.get(f"{crm_base}/{destination['id']}")).status_code == 404
    assert (await client.get(f"{crm_base}/{destination['id']}/deliveries")).status_code == 404
    assert (await client.get(f"{_base(dest)}/{crm.json()['id']}")).status_code == 404
    assert (await client.delete(f"{_base(dest)}/{crm.json()['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**GA4, "measurement_id": "UA-12345-1"}, "measurement_id"),
        ({**GA4, "event_name": "_bad"}, "event_name"),
        ({**GA4, "event_name": "session_start"}, "event_name"),
        ({key: value for key, value in GA4.items() if key != "api_secret"}, "api_secret"),
        ({**METRIKA, "counter_id": "not-a-number"}, "counter_id"),
        ({**ADS, "customer_id": "12-34"}, "customer_id"),
        ({**ADS, "conversion_action": "customers/x/conversionActions/y"}, "conversion_action"),
        ({**GA4, "min_talk_s": -1}, "min_talk_s"),
        ({**GA4, "api_base": "ftp://example.com"}, "api_base"),
        ({**GA4, "token": "a field ga4 does not take"}, "token"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_and_nothing_is_stored(
    dest: Destinations, client: AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post(_base(dest), json=body)

    assert response.status_code == 422, response.text
    assert field in json.dumps(response.json()["detail"])
    assert (await client.get(_base(dest))).json()["items"] == []


class TestOutboundRules:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        # Nothing allowed: the production default.
        return settings.model_copy(update={"outbound_allow": ""})

    async def test_api_base_to_a_private_address_is_refused(
        self, dest: Destinations, client: AsyncClient
    ) -> None:
        response = await client.post(_base(dest), json={**GA4, "api_base": "http://10.0.0.5"})

        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith("api_base: 10.0.0.5 is a private address")
        assert (await client.get(_base(dest))).json()["items"] == []


async def test_unknown_site_and_destination_are_404(
    dest: Destinations, client: AsyncClient
) -> None:
    other = uuid.uuid4()
    assert (await client.post(f"/api/v1/sites/{other}/destinations", json=GA4)).status_code == 404
    assert (await client.get(f"{_base(dest)}/{other}")).status_code == 404
    assert (await client.get(f"{_base(dest)}/{other}/deliveries")).status_code == 404


async def test_admin_token_is_needed(dest: Destinations, anonymous: AsyncClient) -> None:
    assert (await anonymous.get(_base(dest))).status_code == 401
    assert (await anonymous.post(_base(dest), json=GA4)).status_code == 401


async def test_deliveries_by_status_and_a_dead_one_retried(
    dest: Destinations,
    client: AsyncClient,
    worker: Worker,
    clock: ManualClock,
    platforms: fp.PlatformsServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ads = await dest.destination("google_ads")
    platforms.platforms.ads_gclid_errors["Cj0KCQ-test-gclid"] = "CONVERSION_PRECEDES_EVENT"
    call = await dest.call(await dest.visit())
    base = f"{_base(dest)}/{ads['id']}/deliveries"
    [pending] = (await client.get(base, params={"status": "pending"})).json()["items"]
    assert pending["call_id"] == call["id"]

    await run_until_settled(worker, clock)

    assert (await client.get(base, params={"status": "pending"})).json()["items"] == []
    [dead] = (await client.get(base, params={"status": "dead"})).json()["items"]
    assert "CONVERSION_PRECEDES_EVENT" in dead["last_error"]
    detail = (await client.get(f"{base}/{dead['id']}")).json()
    assert [a["outcome"] for a in detail["log"]] == ["dead"]
    assert (await client.get(base, params={"status": "sideways"})).status_code == 422

    # The user fixes it on Google's side and sends it again.
    del platforms.platforms.ads_gclid_errors["Cj0KCQ-test-gclid"]
    retried = await client.post(f"{base}/{dead['id']}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "pending"
    await run_until_settled(worker, clock)
    [sent] = (await client.get(base, params={"status": "sent"})).json()["items"]
    assert sent["id"] == dead["id"]
    assert (await client.post(f"{base}/{dead['id']}/retry")).status_code == 409


async def test_a_retired_destination_gets_nothing_more(
    dest: Destinations,
    client: AsyncClient,
    worker: Worker,
    clock: ManualClock,
    platforms: fp.PlatformsServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ga4 = await dest.destination("ga4")
    number = await dest.visit()
    await dest.call(number)

    retired = await client.delete(f"{_base(dest)}/{ga4['id']}")
    assert retired.status_code == 200
    assert retired.json()["retired_at"] is not None
    await dest.call(number, caller="+79005550001")
    await run_until_settled(worker, clock)

    assert (await client.get(_base(dest))).json()["items"] == []
    async with sessionmaker() as db:
        rows = (await db.execute(text("SELECT status FROM outbox_deliveries"))).all()
    # The call queued before the retirement is closed as dead, the later one never queued.
    assert [r[0] for r in rows] == ["dead"]
    assert platforms.platforms.requests == []
