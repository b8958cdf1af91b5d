"""Bitrix24: new callers become leads, known callers get the call on their record, each call
exactly once (ORIGINATOR_ID + ORIGIN_ID), and deals come back by webhook and by poll."""

from __future__ import annotations

from httpx import AsyncClient

from crm_push.connectors.base import ORIGINATOR
from crm_push.worker import Worker
from tests.clock import ManualClock
from tests.crm_push.conftest import CALLER, World, outbox, run_until_settled
from tests.crm_push.fake_crm import BITRIX_APP_TOKEN, BITRIX_SECRET, FakeCrmServer

OTHER_CALLER = "+79007654321"


async def test_a_new_caller_becomes_a_lead_with_its_utm_fields(
    world: World, crm: FakeCrmServer, worker: Worker
) -> None:
    connector = await world.bitrix24(crm)
    await world.call()

    await worker.drain()

    [lead] = crm.crm.bx_leads.values()
    [delivery] = await outbox(world.sessionmaker)
    assert delivery.status == "sent"
    assert delivery.external_id == f"lead:{lead['ID']}"
    assert lead["SOURCE_ID"] == "CALL"
    assert lead["PHONE"] == [{"VALUE": CALLER, "VALUE_TYPE": "WORK"}]
    assert (lead["UTM_SOURCE"], lead["UTM_MEDIUM"], lead["UTM_CAMPAIGN"]) == (
        "yandex",
        "cpc",
        "spring-sale",
    )
    assert (lead["ORIGINATOR_ID"], lead["ORIGIN_ID"]) == (ORIGINATOR, delivery.idempotency_key)
    assert connector["config"] == {"portal": crm.url}
    assert BITRIX_SECRET not in str(connector)
    assert BITRIX_APP_TOKEN not in str(connector)


async def test_a_repeat_caller_gets_the_call_on_the_existing_record(
    world: World, crm: FakeCrmServer, worker: Worker
) -> None:
    await world.bitrix24(crm)
    contact_id = crm.crm.bx_add_contact(OTHER_CALLER)
    await world.call()  # new: a lead
    await world.call()  # the same caller again: on that lead
    await world.call(caller=OTHER_CALLER)  # a contact the CRM already had

    await worker.drain()

    assert len(crm.crm.bx_leads) == 1
    [lead_id] = crm.crm.bx_leads
    owners = sorted(
        (a["OWNER_TYPE_ID"], a["OWNER_ID"], a["TYPE_ID"], a["DIRECTION"])
        for a in crm.crm.bx_activities.values()
    )
    assert owners == sorted([(1, lead_id, 2, 1), (3, contact_id, 2, 1)])
    externals = sorted(str(r.external_id).split(":")[0] for r in await outbox(world.sessionmaker))
    assert externals == ["activity", "activity", "lead"]


async def test_timeouts_after_creating_and_query_limits_end_in_one_record_each(
    world: World, crm: FakeCrmServer, worker: Worker, clock: ManualClock
) -> None:
    await world.bitrix24(crm)
    crm.crm.fail("hang_after_create")
    crm.crm.fail("503_limit", writes_only=False)
    crm.crm.fail("500_after_create")
    await world.call()
    await world.call(caller=OTHER_CALLER)
    await world.call(caller="+79005550000")

    await run_until_settled(worker, clock)

    counts = crm.crm.records_by_key()
    assert len(counts) == 3
    assert set(counts.values()) == {1}


async def test_deal_updates_come_back_by_webhook_checked_by_the_application_token(
    world: World,
    crm: FakeCrmServer,
    worker: Worker,
    anonymous: AsyncClient,
    client: AsyncClient,
) -> None:
    connector = await world.bitrix24(crm)
    call = await world.call()
    await worker.drain()
    [lead_id] = crm.crm.bx_leads
    deal_id = crm.crm.bx_convert(lead_id, opportunity="48000.50", semantic="P")
    form = {
        "event": "ONCRMDEALUPDATE",
        "data[FIELDS][ID]": str(deal_id),
        "ts": "1700000000",
        "auth[domain]": "portal.bitrix24.ru",
        "auth[application_token]": BITRIX_APP_TOKEN,
    }
    url = f"/hooks/crm/{connector['id']}"

    forged = await anonymous.post(url, data={**form, "auth[application_token]": "guess"})
    opened = await anonymous.post(url, data=form)
    crm.crm.bx_update_deal(deal_id, STAGE_SEMANTIC_ID="S")
    won = await anonymous.post(url, data=form)

    assert forged.status_code == 401
    assert opened.json() == won.json() == {"received": 1, "stored": 1}
    [deal] = (await client.get(f"/api/v1/sites/{world.site['id']}/deals")).json()["items"]
    assert (deal["status"], deal["revenue"], deal["currency"]) == ("won", 48000.5, "RUB")
    assert deal["call_id"] == str(call.id)
    assert deal["external_id"] == f"bitrix24:{deal_id}"


async def test_a_connector_without_an_application_token_refuses_deal_webhooks(
    world: World, crm: FakeCrmServer, anonymous: AsyncClient
) -> None:
    connector = await world.connector("bitrix24", webhook_url=crm.bitrix_url)
    form = {"event": "ONCRMDEALUPDATE", "data[FIELDS][ID]": "1", "auth[application_token]": ""}

    answer = await anonymous.post(f"/hooks/crm/{connector['id']}", data=form)

    assert answer.status_code == 401
    assert "application_token" in answer.json()["detail"]


async def test_deals_missed_by_webhooks_are_polled(
    world: World, crm: FakeCrmServer, worker: Worker, clock: ManualClock, client: AsyncClient
) -> None:
    await world.bitrix24(crm)
    await world.call()
    await worker.drain()
    [lead_id] = crm.crm.bx_leads
    clock.advance(minutes=2)
    crm.crm.bx_convert(lead_id, opportunity="700", semantic="F")
    crm.crm.bx_convert(999_999, opportunity="1", semantic="S")  # not from one of our calls

    clock.advance(minutes=10)
    assert await worker.poll_deals_due() == 1

    [deal] = (await client.get(f"/api/v1/sites/{world.site['id']}/deals")).json()["items"]
    assert (deal["status"], deal["revenue"]) == ("lost", 700)


async def test_withheld_callers_are_never_merged_into_one_record(
    world: World, crm: FakeCrmServer, worker: Worker
) -> None:
    # Issue 13: two people calling from withheld numbers are two leads, not one repeat caller.
    await world.bitrix24(crm)
    await world.call(caller="anonymous")
    await world.call(caller="anonymous")
    await world.call(caller="restricted")

    await worker.drain()

    assert len(crm.crm.bx_leads) == 3
    assert crm.crm.bx_activities == {}
    assert all("PHONE" not in lead for lead in crm.crm.bx_leads.values())
    assert not [r for r in crm.crm.requests if "duplicate.findbycomm" in r.path]
