"""POST /hooks/crm/{id} needs no credentials (amoCRM does not sign its webhooks), so what one
request can make us do is bounded: a rate limit per connector, in process memory or in Redis,
and a few CRM reads per request, the rest left to a poll at once."""

from __future__ import annotations

import uuid

import httpx
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.models import CrmConnector
from crm_push.hooks import HOOK_LIMIT, MAX_DEALS_PER_HOOK
from crm_push.transport import CrmFailure, CrmHttp
from tests.clock import ManualClock
from tests.crm_push.conftest import World, virtual_sleep
from tests.crm_push.fake_crm import FakeCrmServer


@pytest.fixture(params=["embedded", "redis"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    if request.param == "embedded":
        return settings
    return settings.model_copy(update={"redis_url": request.getfixturevalue("redis_url")})


def _lead_reads(crm: FakeCrmServer) -> list[str]:
    return [
        seen.path
        for seen in crm.crm.requests
        if seen.method == "GET" and seen.path.startswith("/api/v4/leads/")
    ]


async def test_a_hook_naming_many_leads_reads_a_few_and_polls_for_the_rest(
    world: World,
    crm: FakeCrmServer,
    anonymous: AsyncClient,
    clock: ManualClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    connector = await world.amocrm(crm)
    ids = range(1000, 1040)
    for lead_id in ids:
        crm.crm.amo_leads[lead_id] = {"id": lead_id, "price": 1, "status_id": 142}
    form = {f"leads[status][{n}][id]": str(lead_id) for n, lead_id in enumerate(ids)}

    answer = await anonymous.post(f"/hooks/crm/{connector['id']}", data=form)

    assert answer.status_code == 200, answer.text
    assert answer.json()["received"] == 40
    assert len(_lead_reads(crm)) == MAX_DEALS_PER_HOOK == 10
    async with sessionmaker() as db:
        row = await db.get(CrmConnector, uuid.UUID(connector["id"]))
        assert row is not None
        # The leads not read are the poll's, at once rather than in ten minutes.
        assert row.deals_poll_at is not None
        assert row.deals_poll_at.replace(tzinfo=clock.now.tzinfo) <= clock.now


async def test_deal_hooks_are_rate_limited_per_connector(
    world: World, crm: FakeCrmServer, anonymous: AsyncClient, clock: ManualClock
) -> None:
    limited = await world.amocrm(crm)
    other = await world.amocrm(crm)
    crm.crm.amo_leads[77] = {"id": 77, "price": 1, "status_id": 142}
    one_lead = {"leads[status][0][id]": "77"}
    for _ in range(HOOK_LIMIT.requests):
        assert (await anonymous.post(f"/hooks/crm/{limited['id']}", data={})).status_code == 200

    refused = await anonymous.post(f"/hooks/crm/{limited['id']}", data=one_lead)

    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= HOOK_LIMIT.window_s
    assert "too many deal webhooks" in refused.json()["detail"]
    assert _lead_reads(crm) == []  # the refused request read nothing from the CRM
    # Another connector has a budget of its own.
    assert (await anonymous.post(f"/hooks/crm/{other['id']}", data=one_lead)).status_code == 200
    assert len(_lead_reads(crm)) == 1

    clock.advance(seconds=HOOK_LIMIT.window_s)
    again = await anonymous.post(f"/hooks/crm/{limited['id']}", data=one_lead)
    assert again.status_code == 200
    assert len(_lead_reads(crm)) == 2


async def test_an_exchange_with_a_request_cap_sends_no_more(clock: ManualClock) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        crm = CrmHttp(client=http, clock=clock, sleep_until=virtual_sleep(clock), max_requests=2)
        for _ in range(2):
            await crm.request("GET", "https://crm.example/api", write=False)
        with pytest.raises(CrmFailure) as refused:
            await crm.request("GET", "https://crm.example/api", write=False)

    assert len(sent) == 2
    assert refused.value.created is False
