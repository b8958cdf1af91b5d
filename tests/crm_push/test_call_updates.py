"""A tag or lead status change on a call's page goes to the CRMs (`call.updated`): amoCRM gets
the lead's tags and a note, Bitrix24 the lead's status and a timeline comment, the signed
webhook a `call.updated` message; the latest state wins, an update waits for the call's record,
failures retry and die visibly. Against the stand-in CRMs, on both databases."""

from __future__ import annotations

import json
import random
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import update

from app.models import Call, OutboxDelivery
from crm_push import dispatch
from crm_push.dispatch import WAITING
from crm_push.retry import RetryPolicy
from crm_push.webhook_body import WebhookBody, WebhookUpdateBody
from crm_push.worker import Worker, WorkerConfig
from tests.clock import ManualClock
from tests.crm_push.conftest import TEST_CONFIG, World, make_worker, outbox, run_until_settled
from tests.crm_push.fake_crm import AMO_TOKEN, FakeCrmServer
from tests.crm_push.test_webhook_doc import ROW, section
from tests.crm_push.webhook_body.fields import field_types
from tests.dashboard.accounts import post_form, set_up_admin

UPDATE = "call.updated"


@pytest.fixture
async def visitor(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """The dashboard's admin, signed in (https: the session cookie is Secure)."""
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="https://testserver") as http:
        await set_up_admin(http)
        yield http


async def tag(visitor: AsyncClient, world: World, call: Call, tags: str) -> None:
    page = f"/sites/{world.site['id']}/calls/{call.id}"
    saved = await post_form(visitor, f"{page}/tags", {"tags": tags}, on=page)
    assert saved.status_code == 303, saved.text


async def set_status(visitor: AsyncClient, world: World, call: Call, status: str) -> None:
    page = f"/sites/{world.site['id']}/calls/{call.id}"
    saved = await post_form(visitor, f"{page}/lead-status", {"status": status}, on=page)
    assert saved.status_code == 303, saved.text


async def updates(world: World) -> list[OutboxDelivery]:
    return [row for row in await outbox(world.sessionmaker) if row.event == UPDATE]


async def test_amocrm_gets_the_tags_and_a_note_on_the_calls_lead(
    world: World, crm: FakeCrmServer, worker: Worker, visitor: AsyncClient
) -> None:
    await world.amocrm(crm)
    call = await world.call()
    await worker.drain()
    [lead_id] = crm.crm.amo_leads

    await tag(visitor, world, call, "Wholesale, repeat order")
    [row] = await updates(world)
    assert row.status == "pending"  # queued in the change's own transaction
    await worker.drain()

    assert sorted(crm.crm.amo_tags(lead_id)) == ["repeat order", "wholesale"]
    [note] = crm.crm.amo_notes
    assert note["entity_id"] == lead_id
    assert note["note_type"] == "common"
    assert "lead status new" in note["params"]["text"]
    assert "repeat order, wholesale" in note["params"]["text"]
    edits = [r for r in crm.crm.requests if r.method == "PATCH"]
    assert [r.path for r in edits] == [f"/api/v4/leads/{lead_id}"]
    assert edits[0].headers["authorization"] == f"Bearer {AMO_TOKEN}"
    [row] = await updates(world)
    assert (row.status, row.external_id) == ("sent", f"lead:{lead_id}")
    assert len(crm.crm.amo_unsorted) == 1  # updated, never created again

    await set_status(visitor, world, call, "qualified")
    await worker.drain()
    assert "lead status qualified" in crm.crm.amo_notes[-1]["params"]["text"]
    [row] = await updates(world)  # the one row, re-armed and sent again
    assert row.status == "sent"


async def test_two_quick_changes_send_the_latest_state_once(
    world: World, crm: FakeCrmServer, worker: Worker, visitor: AsyncClient, clock: ManualClock
) -> None:
    await world.amocrm(crm)
    call = await world.call()
    await worker.drain()
    [lead_id] = crm.crm.amo_leads

    await tag(visitor, world, call, "first")
    clock.advance(seconds=2)
    await tag(visitor, world, call, "second, third")
    await set_status(visitor, world, call, "spam")
    await worker.drain()

    assert sorted(crm.crm.amo_tags(lead_id)) == ["second", "third"]
    assert len([r for r in crm.crm.requests if r.method == "PATCH"]) == 1
    [note] = crm.crm.amo_notes
    assert note["params"]["text"] == "Callsource: lead status spam; tags: second, third"


async def test_saving_the_same_tags_sends_nothing(
    world: World, crm: FakeCrmServer, worker: Worker, visitor: AsyncClient
) -> None:
    await world.amocrm(crm)
    call = await world.call()
    await worker.drain()
    await tag(visitor, world, call, "vip")
    await worker.drain()
    assert len(crm.crm.amo_notes) == 1

    await tag(visitor, world, call, "VIP")  # one tag in any case
    await set_status(visitor, world, call, "new")  # as it was
    assert await worker.drain() == 0
    assert len(crm.crm.amo_notes) == 1


async def test_bitrix24_gets_the_mapped_status_and_a_comment(
    world: World, crm: FakeCrmServer, worker: Worker, visitor: AsyncClient
) -> None:
    await world.bitrix24(crm)
    call = await world.call()
    await worker.drain()
    [lead_id] = crm.crm.bx_leads

    await set_status(visitor, world, call, "qualified")
    await tag(visitor, world, call, "wholesale")
    await worker.drain()

    assert crm.crm.bx_leads[lead_id]["STATUS_ID"] == "PROCESSED"
    [comment] = crm.crm.bx_comments
    assert (comment["ENTITY_TYPE"], comment["ENTITY_ID"]) == ("lead", lead_id)
    assert comment["COMMENT"] == "Callsource: lead status qualified; tags: wholesale"
    methods = [r.path.rsplit("/", 1)[1] for r in crm.crm.requests]
    assert methods[-2:] == ["crm.lead.update.json", "crm.timeline.comment.add.json"]

    for ours, theirs in (("in_progress", "IN_PROCESS"), ("spam", "JUNK"), ("new", "NEW")):
        await set_status(visitor, world, call, ours)
        await worker.drain()
        assert crm.crm.bx_leads[lead_id]["STATUS_ID"] == theirs


async def test_bitrix24_comments_on_the_known_contact_a_call_joined(
    world: World, crm: FakeCrmServer, worker: Worker, visitor: AsyncClient
) -> None:
    await world.bitrix24(crm)
    contact_id = crm.crm.bx_add_contact("+79001234567")
    call = await world.call()
    await worker.drain()
    assert crm.crm.bx_activities
    assert not crm.crm.bx_leads

    await tag(visitor, world, call, "repeat")
    await worker.drain()

    [comment] = crm.crm.bx_comments
    assert (comment["ENTITY_TYPE"], comment["ENTITY_ID"]) == ("contact", contact_id)
    assert "crm.lead.update.json" not in {r.path.rsplit("/", 1)[1] for r in crm.crm.requests}


async def test_the_webhook_gets_a_signed_update_per_change_when_asked(
    world: World, crm: FakeCrmServer, worker: Worker, visitor: AsyncClient, clock: ManualClock
) -> None:
    await world.webhook(crm, events=["call.attributed", UPDATE])
    call = await world.call()
    await worker.drain()

    await tag(visitor, world, call, "wholesale")
    await worker.drain()
    clock.advance(seconds=30)
    await set_status(visitor, world, call, "in_progress")
    await worker.drain()

    # The fake receiver checked each signature and keeps the first message of each id.
    messages = [json.loads(body) for _, body in crm.crm.webhook_posts]
    assert [m["type"] for m in messages] == ["call.attributed", UPDATE, UPDATE]
    assert len(crm.crm.webhook_received) == 3  # a new id per change
    first, second = messages[1], messages[2]
    assert first["data"]["call"] == {
        "id": str(call.id),
        "tags": ["wholesale"],
        "lead_status": "new",
        "changed_at": first["data"]["call"]["changed_at"],
    }
    assert second["data"]["call"]["lead_status"] == "in_progress"
    assert second["data"]["call"]["tags"] == ["wholesale"]
    assert second["data"]["call"]["changed_at"] > first["data"]["call"]["changed_at"]
    assert first["data"]["site_id"] == world.site["id"]
    for _, body in crm.crm.webhook_posts[1:]:
        assert WebhookUpdateBody.model_validate_json(body).encode() == body
    # The call message is the one version 1 always sent.
    WebhookBody.model_validate_json(crm.crm.webhook_posts[0][1])


async def test_a_webhook_that_did_not_ask_gets_no_updates(
    world: World, crm: FakeCrmServer, worker: Worker, visitor: AsyncClient
) -> None:
    await world.webhook(crm, events=["call.attributed", "form"])
    call = await world.call()
    await tag(visitor, world, call, "wholesale")
    await worker.drain()
    assert [json.loads(b)["type"] for _, b in crm.crm.webhook_posts] == ["call.attributed"]
    assert await updates(world) == []


async def test_updates_can_be_turned_off_for_amocrm(
    world: World, crm: FakeCrmServer, worker: Worker, visitor: AsyncClient
) -> None:
    await world.amocrm(crm, send_updates=False)
    call = await world.call()
    await tag(visitor, world, call, "wholesale")
    await worker.drain()
    assert await updates(world) == []
    assert crm.crm.amo_notes == []


async def test_a_webhook_update_needs_a_call_event(world: World, crm: FakeCrmServer) -> None:
    answer = await world.client.post(
        f"/api/v1/sites/{world.site['id']}/crm",
        json={"kind": "webhook", "url": crm.receiver_url, "events": [UPDATE]},
    )
    assert answer.status_code == 422
    assert "call.updated needs call.started or call.attributed" in answer.text


async def test_an_update_before_the_calls_lead_exists_waits_then_goes(
    world: World, crm: FakeCrmServer, worker: Worker, visitor: AsyncClient, clock: ManualClock
) -> None:
    await world.amocrm(crm)
    crm.crm.fail("500", times=2)  # the call's entry fails twice first
    call = await world.call()
    await tag(visitor, world, call, "wholesale")

    await worker.drain()
    [row] = await updates(world)
    assert (row.status, row.last_error) == ("pending", WAITING)
    assert crm.crm.amo_unsorted == []
    assert [r for r in crm.crm.requests if r.method == "PATCH"] == []

    await run_until_settled(worker, clock)

    [lead_id] = crm.crm.amo_leads
    assert len(crm.crm.amo_unsorted) == 1  # no second lead for the update
    assert crm.crm.amo_tags(lead_id) == ["wholesale"]
    [row] = await updates(world)
    assert row.status == "sent"


async def test_a_waiting_update_goes_as_soon_as_the_calls_lead_exists(
    world: World, crm: FakeCrmServer, worker: Worker, visitor: AsyncClient, clock: ManualClock
) -> None:
    await world.amocrm(crm)
    crm.crm.fail("500")
    call = await world.call()
    await tag(visitor, world, call, "wholesale")
    await worker.drain()  # the entry failed, the update waits
    async with world.sessionmaker() as db:  # as after many waits: its next try is far off
        await db.execute(
            update(OutboxDelivery)
            .where(OutboxDelivery.event == UPDATE)
            .values(next_attempt_at=clock.now + timedelta(hours=1))
        )
        await db.commit()

    clock.advance(minutes=1)
    await worker.drain()  # the entry goes, and the update right after it

    [lead_id] = crm.crm.amo_leads
    assert crm.crm.amo_tags(lead_id) == ["wholesale"]
    [row] = await updates(world)
    assert row.status == "sent"


async def test_failed_updates_retry_and_then_go_dead_visibly(
    world: World,
    crm: FakeCrmServer,
    visitor: AsyncClient,
    clock: ManualClock,
    worker: Worker,
) -> None:
    connector = await world.amocrm(crm)
    call = await world.call()
    await worker.drain()
    [lead_id] = crm.crm.amo_leads

    crm.crm.fail("500")  # one failure: retried
    await tag(visitor, world, call, "wholesale")
    await run_until_settled(worker, clock)
    [row] = await updates(world)
    assert (row.status, row.attempts) == ("sent", 2)
    assert crm.crm.amo_tags(lead_id) == ["wholesale"]

    # A CRM down for good: the update dies after its attempts, listed with the dead letters.
    config = WorkerConfig(
        batch_size=TEST_CONFIG.batch_size,
        concurrency=TEST_CONFIG.concurrency,
        timeout_s=TEST_CONFIG.timeout_s,
        connect_timeout_s=TEST_CONFIG.connect_timeout_s,
        retry=RetryPolicy(max_attempts=3),
    )
    impatient = make_worker(world.sessionmaker, worker.http, clock, config=config)
    crm.crm.fail("500", times=10)
    await set_status(visitor, world, call, "qualified")
    await run_until_settled(impatient, clock)
    [row] = await updates(world)
    assert (row.status, row.attempts) == ("dead", 3)
    sid = world.site["id"]
    dead = await world.client.get(
        f"/api/v1/sites/{sid}/crm/{connector['id']}/deliveries", params={"status": "dead"}
    )
    assert dead.status_code == 200
    [listed] = dead.json()["items"]
    assert (listed["event"], listed["call_id"]) == (UPDATE, str(call.id))
    page = (await visitor.get(f"/sites/{sid}/integrations")).text
    dead_row = page.split(f'data-delivery="{row.id}"')[1].split("</tr>")[0]
    assert UPDATE in dead_row
    assert f"/calls/{call.id}" in dead_row

    # The next change re-arms the dead row, and the CRM, back, gets the latest state.
    crm.crm.failures.clear()
    await tag(visitor, world, call, "wholesale, vip")
    await run_until_settled(impatient, clock)
    [row] = await updates(world)
    assert (row.status, row.attempts) == ("sent", 1)
    assert sorted(crm.crm.amo_tags(lead_id)) == ["vip", "wholesale"]
    assert "lead status qualified" in crm.crm.amo_notes[-1]["params"]["text"]


async def test_the_integrations_page_makes_a_webhook_that_takes_updates(
    world: World, crm: FakeCrmServer, visitor: AsyncClient
) -> None:
    sid = world.site["id"]
    page = f"/sites/{sid}/integrations"
    assert "Tag and status changes too" in (await visitor.get(page)).text
    made = await post_form(
        visitor, f"{page}/crm", {"url": crm.receiver_url, "updates": "on"}, on=page
    )
    assert made.status_code == 200, made.text
    listed = (await world.client.get(f"/api/v1/sites/{sid}/crm")).json()["items"]
    [hook] = [c for c in listed if c["kind"] == "webhook"]
    assert sorted(hook["config"]["events"]) == ["call.attributed", UPDATE]


def test_the_doc_describes_the_update_message_we_send() -> None:
    text = section("Tag and status changes")
    [example] = re.findall(r"^```json\n(.*?)^```$", text, re.M | re.S)
    WebhookUpdateBody.model_validate_json(example)  # a body we could send
    rows = [ROW.match(line) for line in text.splitlines()]
    documented = [m["field"] for m in rows if m and m["field"].startswith("data.call.")]
    sent = [f for f, _ in field_types(WebhookUpdateBody) if f.startswith("data.call.")]
    assert documented == sent


async def test_a_crm_connected_after_the_call_gets_no_update_of_it(
    world: World, crm: FakeCrmServer, worker: Worker, visitor: AsyncClient
) -> None:
    call = await world.call()
    await world.amocrm(crm)
    await tag(visitor, world, call, "wholesale")
    assert await updates(world) == []  # that CRM will never have the call
    assert await worker.drain() == 0


async def test_a_change_while_the_old_state_is_in_flight_is_sent_after_it(
    world: World, crm: FakeCrmServer, worker: Worker, visitor: AsyncClient, clock: ManualClock
) -> None:
    await world.amocrm(crm)
    call = await world.call()
    await worker.drain()
    [lead_id] = crm.crm.amo_leads
    await tag(visitor, world, call, "old")

    async with world.sessionmaker() as db:  # a worker claims the update, then...
        [claim] = await dispatch.claim_due(db, now=clock.now, limit=10, lease=timedelta(seconds=24))
        await db.commit()
    await tag(visitor, world, call, "new")  # ...the admin changes it again
    outcome = await dispatch.attempt(worker.crm_http("amocrm", "k", {}, deadline=None), claim)
    async with world.sessionmaker() as db:
        stored = await dispatch.record(
            db,
            claim,
            outcome,
            now=clock.now,
            policy=RetryPolicy(),
            rng=random.Random(1),
            duration_ms=1,
        )
        await db.commit()
    assert stored is False  # the re-armed row is not marked sent with the old state
    [row] = await updates(world)
    assert row.status == "pending"

    await worker.drain()
    assert crm.crm.amo_tags(lead_id) == ["new"]


async def test_an_update_of_a_lead_deleted_in_the_crm_dies_at_once(
    world: World, crm: FakeCrmServer, worker: Worker, visitor: AsyncClient
) -> None:
    await world.amocrm(crm)
    call = await world.call()
    await worker.drain()
    crm.crm.amo_leads.clear()  # a manager deleted the lead

    await tag(visitor, world, call, "wholesale")
    await worker.drain()

    [row] = await updates(world)
    assert (row.status, row.attempts) == ("dead", 1)
    assert row.last_error is not None
    assert "404" in row.last_error or "Not Found" in row.last_error
