"""amoCRM: each call becomes exactly one unsorted SIP entry whatever the CRM does meanwhile,
and lead outcomes come back as deals by webhook and by poll."""

from __future__ import annotations

from datetime import timedelta

from httpx import AsyncClient

from crm_push.worker import Worker
from tests.clock import ManualClock
from tests.crm_push.conftest import CALLER, World, outbox, run_until_settled
from tests.crm_push.fake_crm import AMO_TOKEN, FakeCrmServer


def assert_each_call_once(crm: FakeCrmServer, calls: int) -> None:
    counts = crm.crm.records_by_key()
    assert len(counts) == calls
    assert set(counts.values()) == {1}


async def test_a_call_becomes_an_unsorted_sip_entry_with_its_source(
    world: World, crm: FakeCrmServer, worker: Worker
) -> None:
    connector = await world.amocrm(crm, pipeline_id=5)
    await world.call()

    assert await worker.drain() == 1

    [entry] = crm.crm.amo_unsorted
    [delivery] = await outbox(world.sessionmaker)
    assert delivery.status == "sent"
    assert str(delivery.connector_id) == connector["id"]
    assert entry["source_uid"] == entry["request_id"] == delivery.idempotency_key
    assert entry["pipeline_id"] == 5
    assert entry["metadata"]["from"] == CALLER
    assert entry["metadata"]["duration"] == 65
    assert entry["_embedded"]["contacts"][0]["name"] == CALLER
    [lead] = entry["_embedded"]["leads"]
    fields = {
        f["field_code"]: f["values"][0]["value"]
        for f in crm.crm.amo_leads[lead["id"]]["custom_fields_values"]
    }
    assert fields == {"UTM_SOURCE": "yandex", "UTM_MEDIUM": "cpc", "UTM_CAMPAIGN": "spring-sale"}
    assert delivery.external_id == f"lead:{lead['id']}"
    assert delivery.external_refs == {
        "unsorted_uid": entry["uid"],
        "lead_id": lead["id"],
        "contact_id": entry["_embedded"]["contacts"][0]["id"],
    }
    [post] = [r for r in crm.crm.requests if r.method == "POST"]
    assert post.headers["authorization"] == f"Bearer {AMO_TOKEN}"


async def test_timeout_after_the_lead_was_created_finds_it_instead_of_creating_again(
    world: World, crm: FakeCrmServer, worker: Worker, clock: ManualClock
) -> None:
    await world.amocrm(crm)
    crm.crm.fail("hang_after_create", times=2)
    for _ in range(3):
        await world.call()

    await run_until_settled(worker, clock)

    assert_each_call_once(crm, 3)
    rows = await outbox(world.sessionmaker)
    assert {r.status for r in rows} == {"sent"}
    assert sorted(r.attempts for r in rows) == [1, 2, 2]
    # The second attempt looked the key up: it read the unsorted list, then posted nothing.
    posts = [r for r in crm.crm.requests if r.method == "POST"]
    assert len(posts) == 3
    assert all(r.external_id and r.external_id.startswith("lead:") for r in rows)


async def test_500s_before_and_after_creating_end_in_one_lead_each(
    world: World, crm: FakeCrmServer, worker: Worker, clock: ManualClock
) -> None:
    await world.amocrm(crm)
    crm.crm.fail("500")
    crm.crm.fail("500_after_create")
    for _ in range(3):
        await world.call()

    await run_until_settled(worker, clock)

    assert_each_call_once(crm, 3)


async def test_429_retry_after_is_honoured(
    world: World, crm: FakeCrmServer, worker: Worker, clock: ManualClock
) -> None:
    await world.amocrm(crm)
    crm.crm.fail("429", retry_after=120)
    await world.call()

    await worker.drain()
    [delivery] = await outbox(world.sessionmaker)
    assert delivery.status == "pending"
    assert delivery.next_attempt_at >= clock.now + timedelta(seconds=120)
    assert not delivery.maybe_created  # a 429 is refused before anything is made

    clock.advance(seconds=90)
    assert await worker.drain() == 0
    await run_until_settled(worker, clock)
    assert_each_call_once(crm, 1)


async def test_an_hour_long_outage_loses_nothing_and_duplicates_nothing(
    world: World, crm: FakeCrmServer, worker: Worker, clock: ManualClock
) -> None:
    await world.amocrm(crm)
    crm.crm.outage_until = clock.now + timedelta(hours=1, minutes=5)
    for _ in range(5):
        await world.call()
    crm.crm.fail("500_after_create", times=2)  # and a flaky moment once it is back

    await run_until_settled(worker, clock, step_s=60)

    assert clock.now >= crm.crm.outage_until
    assert_each_call_once(crm, 5)
    rows = await outbox(world.sessionmaker)
    assert {r.status for r in rows} == {"sent"}
    assert min(r.attempts for r in rows) > 3
    assert max(r.attempts for r in rows) < 30


async def test_refused_connections_are_retried_without_a_lookup(
    world: World, crm: FakeCrmServer, worker: Worker, clock: ManualClock
) -> None:
    await world.amocrm(crm)
    await world.call()
    await crm.stop()

    await worker.drain()
    [delivery] = await outbox(world.sessionmaker)
    assert delivery.status == "pending"
    assert delivery.last_error is not None
    assert "cannot connect" in delivery.last_error
    assert not delivery.maybe_created

    await crm.start()
    await run_until_settled(worker, clock)
    assert_each_call_once(crm, 1)
    # Nothing could have been created, so nothing was looked up.
    assert [r.method for r in crm.crm.requests] == ["POST"]


async def test_won_and_lost_leads_come_back_by_webhook(
    world: World, crm: FakeCrmServer, worker: Worker, anonymous: AsyncClient, client: AsyncClient
) -> None:
    connector = await world.amocrm(crm, currency="usd")
    call = await world.call()
    await worker.drain()
    [lead_id] = crm.crm.amo_leads

    crm.crm.amo_close(lead_id, status_id=142, price=125000)
    # amoCRM posts its own form fields; the price in it is not trusted, the API is read.
    form = {
        "leads[status][0][id]": str(lead_id),
        "leads[status][0][status_id]": "142",
        "leads[status][0][price]": "1",
        "account[subdomain]": "shop",
    }
    answer = await anonymous.post(f"/hooks/crm/{connector['id']}", data=form)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 1, "stored": 1}
    [deal] = (await client.get(f"/api/v1/sites/{world.site['id']}/deals")).json()["items"]
    assert deal["status"] == "won"
    assert deal["revenue"] == 125000
    assert deal["currency"] == "USD"
    assert deal["call_id"] == str(call.id)
    assert (deal["source"], deal["medium"], deal["campaign"]) == ("yandex", "cpc", "spring-sale")
    assert deal["closed_at"] is not None

    crm.crm.amo_close(lead_id, status_id=143, price=125000)
    form["leads[status][0][status_id]"] = "143"
    assert (await anonymous.post(f"/hooks/crm/{connector['id']}", data=form)).status_code == 200
    [deal] = (await client.get(f"/api/v1/sites/{world.site['id']}/deals")).json()["items"]
    assert deal["status"] == "lost"


async def test_a_lead_we_did_not_push_is_not_a_deal_of_ours(
    world: World, crm: FakeCrmServer, anonymous: AsyncClient, client: AsyncClient
) -> None:
    connector = await world.amocrm(crm)
    crm.crm.amo_leads[77] = {"id": 77, "price": 10, "status_id": 142, "updated_at": 0}

    answer = await anonymous.post(
        f"/hooks/crm/{connector['id']}", data={"leads[status][0][id]": "77"}
    )

    assert answer.json() == {"received": 1, "stored": 0}
    assert (await client.get(f"/api/v1/sites/{world.site['id']}/deals")).json()["items"] == []


async def test_a_missed_webhook_is_caught_by_the_poll(
    world: World, crm: FakeCrmServer, worker: Worker, clock: ManualClock, client: AsyncClient
) -> None:
    await world.amocrm(crm)
    await world.call()
    await worker.drain()  # delivers, and takes the first poll
    [lead_id] = crm.crm.amo_leads

    clock.advance(minutes=3)
    crm.crm.amo_close(lead_id, status_id=142, price=9900)
    assert await worker.poll_deals_due() == 0  # not due yet
    clock.advance(minutes=10)
    assert await worker.poll_deals_due() == 1

    [deal] = (await client.get(f"/api/v1/sites/{world.site['id']}/deals")).json()["items"]
    assert (deal["status"], deal["revenue"], deal["currency"]) == ("won", 9900, "RUB")
    # Read again by the next poll's overlap: stored once, unchanged.
    clock.advance(minutes=11)
    await worker.poll_deals_due()
    assert len((await client.get(f"/api/v1/sites/{world.site['id']}/deals")).json()["items"]) == 1


async def test_a_webhook_whose_read_back_fails_leaves_the_deal_to_a_poll_soon(
    world: World, crm: FakeCrmServer, worker: Worker, clock: ManualClock, anonymous: AsyncClient
) -> None:
    connector = await world.amocrm(crm)
    await world.call()
    await worker.drain()
    [lead_id] = crm.crm.amo_leads
    crm.crm.amo_close(lead_id, status_id=142, price=500)
    crm.crm.fail("500", writes_only=False)

    form = {"leads[status][0][id]": str(lead_id)}
    answer = await anonymous.post(f"/hooks/crm/{connector['id']}", data=form)

    assert answer.json() == {"received": 1, "stored": 0}
    assert await worker.poll_deals_due() == 1  # due at once, not in ten minutes


async def test_a_withheld_caller_gets_no_phone_to_be_merged_by(
    world: World, crm: FakeCrmServer, worker: Worker
) -> None:
    # Issue 13: amoCRM merges contacts by phone; "anonymous" is nobody's phone.
    await world.amocrm(crm)
    await world.call(caller="anonymous")
    await world.call()

    assert await worker.drain() == 2

    withheld, known = sorted(
        crm.crm.amo_unsorted, key=lambda e: e["metadata"]["from"] != "anonymous"
    )
    assert "custom_fields_values" not in withheld["_embedded"]["contacts"][0]
    [phone] = known["_embedded"]["contacts"][0]["custom_fields_values"]
    assert phone["values"][0]["value"] == CALLER
