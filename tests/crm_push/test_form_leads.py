"""Form leads through the one outbox: amoCRM unsorted forms, a Bitrix24 web lead, the signed
webhook's `form` message; and the caller who filled a form and then phoned is one person."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from httpx import AsyncClient

from app.models import Call
from crm_push.webhook_body import WebhookBody, WebhookFormBody, WebhookLead
from crm_push.worker import Worker
from tests.clock import ManualClock
from tests.crm_push.conftest import CALLER, World, outbox, run_until_settled
from tests.crm_push.fake_crm import FakeCrmServer
from tests.leads.forms import enable_forms, send_form, visit

FIELDS = {"name": "Анна", "phone": "8 900 123-45-67", "email": "anna@mail.example", "city": "Тула"}


async def form(world: World, **fields: Any) -> str:
    await enable_forms(world.client, world.site)
    session = await visit(world.anonymous, world.site)
    sent = await send_form(
        world.anonymous, world.site, session["session_id"], form_id="order", fields=fields or FIELDS
    )
    assert sent.status_code == 201, sent.text
    lead_id: str = sent.json()["lead_id"]
    return lead_id


async def test_amocrm_gets_an_unsorted_form_entry_with_the_contact(
    world: World, crm: FakeCrmServer, worker: Worker
) -> None:
    await world.amocrm(crm, pipeline_id=5)
    lead_id = await form(world)

    assert await worker.drain() == 1

    [entry] = crm.crm.amo_unsorted
    [delivery] = await outbox(world.sessionmaker)
    assert delivery.status == "sent"
    assert str(delivery.lead_id) == lead_id
    assert delivery.call_id is None
    assert entry["category"] == "forms"
    assert entry["source_uid"] == delivery.idempotency_key
    assert entry["pipeline_id"] == 5
    assert entry["metadata"]["form_id"] == "order"
    assert entry["metadata"]["form_page"] == "https://shop.example/contact"
    [contact] = entry["_embedded"]["contacts"]
    assert contact["name"] == "Анна"
    values = {f["field_code"]: f["values"][0]["value"] for f in contact["custom_fields_values"]}
    assert values == {"PHONE": CALLER, "EMAIL": "anna@mail.example"}
    [lead] = entry["_embedded"]["leads"]
    utm = {f["field_code"]: f["values"][0]["value"] for f in lead["custom_fields_values"]}
    assert utm["UTM_SOURCE"] == "yandex"
    assert utm["UTM_CAMPAIGN"] == "spring"
    assert delivery.external_id == f"lead:{lead['id']}"
    posts = [r for r in crm.crm.requests if r.method == "POST"]
    assert [p.path for p in posts] == ["/api/v4/leads/unsorted/forms"]


async def test_amocrm_finds_the_form_entry_after_a_timeout(
    world: World, crm: FakeCrmServer, worker: Worker, clock: ManualClock
) -> None:
    await world.amocrm(crm)
    crm.crm.fail("hang_after_create")
    await form(world)

    await run_until_settled(worker, clock)

    assert len(crm.crm.amo_unsorted) == 1
    [delivery] = await outbox(world.sessionmaker)
    assert (delivery.status, delivery.attempts) == ("sent", 2)


async def test_bitrix24_gets_a_web_lead(world: World, crm: FakeCrmServer, worker: Worker) -> None:
    await world.bitrix24(crm)
    await form(world)

    await worker.drain()

    [lead] = crm.crm.bx_leads.values()
    assert lead["SOURCE_ID"] == "WEB"
    assert lead["NAME"] == "Анна"
    assert lead["PHONE"] == [{"VALUE": CALLER, "VALUE_TYPE": "WORK"}]
    assert lead["EMAIL"] == [{"VALUE": "anna@mail.example", "VALUE_TYPE": "WORK"}]
    assert lead["UTM_SOURCE"] == "yandex"
    assert "city: Тула" in lead["COMMENTS"]
    assert lead["ORIGINATOR_ID"] == "callsource"


async def test_the_webhook_sends_a_signed_form_message_when_asked(
    world: World, crm: FakeCrmServer, worker: Worker
) -> None:
    await world.webhook(crm, events=["call.attributed", "form"])
    lead_id = await form(world)

    await worker.drain()

    [(headers, body)] = crm.crm.webhook_posts  # the fake receiver checked the signature
    message = json.loads(body)
    assert message["type"] == "form"
    assert WebhookFormBody.model_validate_json(body).encode() == body
    lead = message["data"]["lead"]
    assert lead["id"] == lead_id
    assert (lead["phone"], lead["email"], lead["name"]) == (CALLER, "anna@mail.example", "Анна")
    assert lead["fields"] == {"city": "Тула"}
    assert lead["attribution"]["source"] == "yandex"
    assert headers["x-callsource-schema"] == "1"


async def test_a_webhook_that_did_not_ask_gets_no_forms(
    world: World, crm: FakeCrmServer, worker: Worker
) -> None:
    await world.webhook(crm)
    await form(world)
    await world.call()

    await worker.drain()

    [(_headers, body)] = crm.crm.webhook_posts
    assert WebhookBody.model_validate_json(body).type == "call.attributed"


async def test_a_caller_who_sent_a_form_is_no_first_time_caller(
    world: World, client: AsyncClient
) -> None:
    await form(world)
    world.clock.advance(seconds=120)

    call: Call = await world.call(caller=CALLER)
    other: Call = await world.call(caller="+79005550000")

    assert call.first_time_caller is False
    assert other.first_time_caller is True
    leads = (await client.get(f"/api/v1/sites/{world.site['id']}/leads")).json()["items"]
    assert [(lead["kind"], lead["phone"]) for lead in leads] == [
        ("call", "+79005550000"),
        ("call", CALLER),
        ("form", CALLER),
    ]
    assert leads[1]["call_id"] == str(call.id)


async def test_the_delivery_log_names_the_lead(
    world: World, crm: FakeCrmServer, client: AsyncClient
) -> None:
    connector = await world.bitrix24(crm)
    lead_id = await form(world)

    listed = await client.get(f"/api/v1/sites/{world.site['id']}/crm/{connector['id']}/deliveries")

    [item] = listed.json()["items"]
    assert (item["lead_id"], item["call_id"], item["event"]) == (lead_id, None, "form")


def test_the_docs_form_example_is_a_body_we_send() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "crm-webhook.md").read_text("utf-8")
    section = text.split("## Form leads", 1)[1].split("\n## ", 1)[0]
    example = section.split("```json\n", 1)[1].split("```", 1)[0]

    body = WebhookFormBody.model_validate_json(example)

    assert body.type == "form"
    # Every field of the lead is in the doc's table.
    for name in WebhookLead.model_fields:
        assert f"`{name}`" in section or f"`data.lead.{name}`" in section, name
