"""Alerts delivered by the worker from the outbox: Telegram through a stand-in Bot API server,
e-mail through a real SMTP server; missed against answered calls; the daily digest."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import migrations
from app.config import Settings
from app.mail import send_mail
from app.models import Call, FormLead, OutboxDelivery
from crm_push import repository
from crm_push.connectors import get_connector
from crm_push.connectors.base import ConnectorData, Job
from crm_push.connectors.messages import FORM_EVENT
from crm_push.ratelimit import MemoryRateLimiter
from crm_push.transport import CrmHttp
from crm_push.worker import Worker
from tests.clock import ManualClock
from tests.crm_push.conftest import (
    CALLER,
    SOURCE_NUMBER,
    TEST_CONFIG,
    World,
    outbox,
    run_until_settled,
    virtual_sleep,
)
from tests.crm_push.fake_telegram import BOT_TOKEN, CHAT_ID, FakeTelegram, FakeTelegramServer
from tests.leads.forms import enable_forms, send_form, visit
from tests.smtp_server import SmtpInbox

MAIL_FROM = "alerts@callsource.example"


@pytest.fixture
def settings(settings: Settings, smtp_inbox: SmtpInbox) -> Settings:
    return settings.model_copy(
        update={"smtp_url": SecretStr(smtp_inbox.url), "mail_from": MAIL_FROM}
    )


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramServer]:
    server = FakeTelegramServer(FakeTelegram())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def worker(
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    clock: ManualClock,
    settings: Settings,
) -> Worker:
    return Worker(
        sessionmaker,
        http=http,
        limiter=MemoryRateLimiter(),
        config=TEST_CONFIG,
        clock=clock,
        sleep_until=virtual_sleep(clock),
        rng=random.Random(7),
        mailer=partial(send_mail, settings),
        public_url=settings.public_url,
    )


async def rule(client: AsyncClient, site_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/api/v1/sites/{site_id}/notifications", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def telegram_rule(
    world: World, telegram: FakeTelegramServer, *events: str, chat_id: str = CHAT_ID
) -> dict[str, Any]:
    return await rule(
        world.client,
        world.site["id"],
        channel="telegram",
        chat_id=chat_id,
        bot_token=BOT_TOKEN,
        api_base=telegram.url,
        events=list(events),
    )


async def missed_call(world: World, *, caller: str = CALLER) -> Call:
    provider_id = f"call-{uuid.uuid4().hex[:10]}"
    who = {"caller": caller, "called": SOURCE_NUMBER}
    await world._hook("call.started", provider_id, **who)
    world.clock.advance(seconds=20)
    await world._hook("call.ended", provider_id, **who, status="missed", duration=20)
    async with world.sessionmaker() as db:
        return (
            await db.execute(select(Call).where(Call.provider_call_id == provider_id))
        ).scalar_one()


async def deliveries_of(world: World, rule_id: str) -> list[OutboxDelivery]:
    return [r for r in await outbox(world.sessionmaker) if str(r.connector_id) == rule_id]


# --- Telegram ------------------------------------------------------------------------------


async def test_a_missed_call_reaches_the_chat_and_an_answered_one_does_not(
    world: World, worker: Worker, telegram: FakeTelegramServer
) -> None:
    made = await telegram_rule(world, telegram, "missed_call")
    await world.call()  # answered
    await missed_call(world)
    await run_until_settled(worker, world.clock)

    [sent] = telegram.telegram.sent
    assert sent.chat_id == CHAT_ID
    assert sent.parse_mode == "HTML"
    assert "Missed call from +79001234567" in sent.plain
    assert "Call back: +79001234567" in sent.plain
    assert "Source: yandex / cpc / spring-sale" in sent.plain
    [row] = await deliveries_of(world, made["id"])
    assert (row.event, row.status, row.external_id) == ("call.missed", "sent", "message:1")


async def test_every_call_rule_tells_of_both_once_each(
    world: World, worker: Worker, telegram: FakeTelegramServer
) -> None:
    await telegram_rule(world, telegram, "call", "missed_call")
    await world.call(duration=125)
    await missed_call(world)
    await run_until_settled(worker, world.clock)

    texts = [s.plain for s in telegram.telegram.sent]
    assert len(texts) == 2
    assert texts[0].startswith("Call from +79001234567")
    assert "Talked: 2 min 00 s" in texts[0]
    assert texts[1].startswith("Missed call from +79001234567")


async def test_html_in_what_the_visitor_brought_is_escaped(
    world: World, worker: Worker, telegram: FakeTelegramServer
) -> None:
    await telegram_rule(world, telegram, "missed_call")
    sid = world.site["id"]
    source = {
        "number": "+74950000202",
        "kind": "source",
        "target_number": "+74951234567",
        "source": "<b>ads</b> & co",
    }
    created = await world.client.post(f"/api/v1/sites/{sid}/static-numbers", json=source)
    assert created.status_code == 201, created.text
    provider_id = "call-html"
    who = {"caller": CALLER, "called": "+74950000202"}
    await world._hook("call.started", provider_id, **who)
    await world._hook("call.ended", provider_id, **who, status="missed")
    await run_until_settled(worker, world.clock)

    [sent] = telegram.telegram.sent
    assert "&lt;b&gt;ads&lt;/b&gt; &amp; co" in sent.text
    assert "Source: <b>ads</b> & co" in sent.plain


async def test_a_429_waits_retry_after_then_sends(
    world: World, worker: Worker, telegram: FakeTelegramServer, clock: ManualClock
) -> None:
    made = await telegram_rule(world, telegram, "missed_call")
    telegram.telegram.rate_limit(1, retry_after=40)
    await missed_call(world)
    await worker.drain()

    [row] = await deliveries_of(world, made["id"])
    assert row.status == "pending"
    assert row.attempts == 1
    assert row.last_error is not None
    assert "Too Many Requests: retry after 40" in row.last_error
    assert row.next_attempt_at >= clock.now + timedelta(seconds=40)
    clock.advance(seconds=30)
    await worker.drain()
    assert telegram.telegram.sent == []
    await run_until_settled(worker, clock)
    assert len(telegram.telegram.sent) == 1


@pytest.mark.parametrize(
    ("chat", "blocked", "reason"),
    [
        ("-100999", False, "Telegram 400: Bad Request: chat not found"),
        (CHAT_ID, True, "Telegram 403: Forbidden: bot was blocked by the user"),
    ],
)
async def test_a_chat_that_cannot_be_written_to_is_dead_with_the_reason(
    world: World,
    worker: Worker,
    telegram: FakeTelegramServer,
    chat: str,
    blocked: bool,
    reason: str,
) -> None:
    if blocked:
        telegram.telegram.blocked.add(CHAT_ID)
    made = await telegram_rule(world, telegram, "missed_call", chat_id=chat)
    await missed_call(world)
    await worker.drain()

    [row] = await deliveries_of(world, made["id"])
    assert (row.status, row.attempts, row.last_error) == ("dead", 1, reason)
    shown = (
        await world.client.get(f"/api/v1/sites/{world.site['id']}/notifications/{made['id']}")
    ).json()
    assert shown["dead"] == 1
    assert shown["last_error"] == reason

    # Fixed on Telegram's side, the dead delivery is retried from the API and goes out.
    telegram.telegram.chats.add(chat)
    telegram.telegram.blocked.clear()
    retried = await world.client.post(
        f"/api/v1/sites/{world.site['id']}/notifications/{made['id']}/deliveries/{row.id}/retry"
    )
    assert retried.status_code == 200, retried.text
    await run_until_settled(worker, world.clock)
    assert len(telegram.telegram.sent) == 1
    shown = (
        await world.client.get(f"/api/v1/sites/{world.site['id']}/notifications/{made['id']}")
    ).json()
    assert (shown["dead"], shown["last_error"]) == (0, None)


async def test_a_wrong_token_is_dead_and_never_shown(
    world: World, worker: Worker, telegram: FakeTelegramServer
) -> None:
    telegram.telegram.token = "987654321:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    made = await telegram_rule(world, telegram, "missed_call")
    await missed_call(world)
    await worker.drain()

    [row] = await deliveries_of(world, made["id"])
    assert (row.status, row.last_error) == ("dead", "Telegram 401: Unauthorized")
    listed = await world.client.get(
        f"/api/v1/sites/{world.site['id']}/notifications/{made['id']}/deliveries"
    )
    assert BOT_TOKEN not in listed.text
    assert BOT_TOKEN.split(":")[1] not in str(row.__dict__)


async def test_the_test_button_sends_one_message_now(
    world: World, telegram: FakeTelegramServer
) -> None:
    made = await telegram_rule(world, telegram, "daily_digest")
    answer = await world.client.post(
        f"/api/v1/sites/{world.site['id']}/notifications/{made['id']}/test"
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is True
    [sent] = telegram.telegram.sent
    assert "Callsource test message" in sent.plain
    assert "Alerts of Shop reach this chat." in sent.plain
    # Nothing was queued: a test is not an alert.
    assert await deliveries_of(world, made["id"]) == []

    telegram.telegram.blocked.add(CHAT_ID)
    failed = await world.client.post(
        f"/api/v1/sites/{world.site['id']}/notifications/{made['id']}/test"
    )
    assert failed.json() == {
        "ok": False,
        "detail": "Telegram 403: Forbidden: bot was blocked by the user",
    }


async def test_a_retired_rule_gets_nothing(
    world: World, worker: Worker, telegram: FakeTelegramServer
) -> None:
    made = await telegram_rule(world, telegram, "missed_call", "call")
    retired = await world.client.delete(
        f"/api/v1/sites/{world.site['id']}/notifications/{made['id']}"
    )
    assert retired.status_code == 200
    assert retired.json()["retired_at"] is not None
    await missed_call(world)
    await run_until_settled(worker, world.clock)
    assert telegram.telegram.sent == []
    assert await deliveries_of(world, made["id"]) == []


# --- e-mail --------------------------------------------------------------------------------


async def test_a_missed_call_mail_has_the_call_back_link(
    world: World, worker: Worker, smtp_inbox: SmtpInbox
) -> None:
    made = await rule(
        world.client,
        world.site["id"],
        channel="email",
        to="sales@shop.example, boss@shop.example",
        events=["missed_call"],
    )
    assert made["to"] == ["sales@shop.example", "boss@shop.example"]
    await world.call()
    call = await missed_call(world)
    await run_until_settled(worker, world.clock)

    [received] = await smtp_inbox.wait_for(1)
    assert received.envelope_to == ["sales@shop.example", "boss@shop.example"]
    assert received.envelope_from == MAIL_FROM
    message = received.message
    assert message["Subject"] == "Missed call from +79001234567 · Shop"
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    assert html_part is not None
    assert text_part is not None
    html = html_part.get_content()
    assert '<a href="tel:+79001234567">+79001234567</a>' in html
    text = text_part.get_content()
    assert "Call back: +79001234567 (tel:+79001234567)" in text
    assert "Source: yandex / cpc / spring-sale" in text
    assert "When: 2026-11-02 12:3" in text  # Moscow time
    assert f"https://calls.example.test/sites/{world.site['id']}/calls/{call.id}" in text
    assert len(smtp_inbox.messages) == 1


async def test_a_refused_mailbox_is_dead_after_a_few_attempts(
    world: World, worker: Worker, smtp_inbox: SmtpInbox, clock: ManualClock
) -> None:
    smtp_inbox.refused.add("gone@shop.example")
    made = await rule(
        world.client, world.site["id"], channel="email", to="gone@shop.example", events=["call"]
    )
    await world.call()
    await run_until_settled(worker, clock)

    [row] = await deliveries_of(world, made["id"])
    assert row.status == "dead"
    assert row.attempts == 3
    assert row.last_error is not None
    assert "550" in row.last_error
    assert smtp_inbox.messages == []


async def test_an_unreachable_smtp_server_is_retried_with_backoff(
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    clock: ManualClock,
    settings: Settings,
    smtp_inbox: SmtpInbox,
) -> None:
    made = await rule(
        world.client, world.site["id"], channel="email", to="a@shop.example", events=["call"]
    )
    closed = settings.model_copy(update={"smtp_url": SecretStr("smtp://127.0.0.1:9")})
    down = Worker(
        sessionmaker,
        http=http,
        limiter=MemoryRateLimiter(),
        config=TEST_CONFIG,
        clock=clock,
        sleep_until=virtual_sleep(clock),
        rng=random.Random(7),
        mailer=partial(send_mail, closed),
    )
    await world.call()
    await down.drain()
    [row] = await deliveries_of(world, made["id"])
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error is not None
    assert "127.0.0.1:9" in row.last_error
    assert row.next_attempt_at > clock.now


# --- the daily digest ----------------------------------------------------------------------


async def test_the_digest_sums_up_yesterday_once(
    world: World, worker: Worker, telegram: FakeTelegramServer, clock: ManualClock
) -> None:
    # 2026-11-02 in Moscow: two answered calls and a missed one from yandex, ad spend 3000.
    sid = world.site["id"]
    made = await telegram_rule(world, telegram, "daily_digest")
    await world.call()
    await world.call()
    await missed_call(world)
    costs = [
        {"date": "2026-11-02", "source": "yandex", "medium": "cpc", "cost": 3000, "currency": "RUB"}
    ]
    assert (await world.client.post(f"/api/v1/sites/{sid}/costs", json=costs)).status_code < 300
    await run_until_settled(worker, clock)
    assert telegram.telegram.sent == []

    # 07:00 in Moscow the next day: not yet.
    clock.now = datetime(2026, 11, 3, 4, 0, tzinfo=UTC)
    await run_until_settled(worker, clock)
    assert telegram.telegram.sent == []

    # 08:00 in Moscow: yesterday's digest, once however often the worker looks.
    clock.now = datetime(2026, 11, 3, 5, 0, tzinfo=UTC)
    await run_until_settled(worker, clock)
    for _ in range(3):
        clock.advance(hours=3)
        await run_until_settled(worker, clock)
    [sent] = telegram.telegram.sent
    text = sent.plain
    assert text.startswith("Shop on 2026-11-02")
    assert "Calls: 3" in text
    assert "Missed: 1" in text
    assert "Leads: 2" in text
    assert "Ad cost: 3 000.00 RUB" in text
    assert "Cost per lead: 1 500.00 RUB" in text
    assert "yandex: 3 calls, 2 leads" in text
    [row] = [r for r in await deliveries_of(world, made["id"]) if r.event == "digest.daily"]
    assert row.call_id is None
    assert str(row.digest_day) == "2026-11-02"

    # The next morning: the digest of a quiet day.
    clock.now = datetime(2026, 11, 4, 6, 0, tzinfo=UTC)
    await run_until_settled(worker, clock)
    assert len(telegram.telegram.sent) == 2
    quiet = telegram.telegram.sent[1].plain
    assert "Shop on 2026-11-03" in quiet
    assert "Calls: 0" in quiet
    assert "No calls yesterday." in quiet


async def test_the_digest_by_mail(
    world: World, worker: Worker, smtp_inbox: SmtpInbox, clock: ManualClock
) -> None:
    await rule(
        world.client,
        world.site["id"],
        channel="email",
        to="boss@shop.example",
        events=["daily_digest"],
    )
    await world.call()
    clock.now = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)
    await run_until_settled(worker, clock)
    [received] = await smtp_inbox.wait_for(1)
    assert received.message["Subject"] == "Daily digest: Shop, 2026-11-02"
    text_part = received.message.get_body(("plain",))
    assert text_part is not None
    text = text_part.get_content()
    assert "Calls: 1" in text
    assert "Ad cost: not known" in text


# --- the migration -------------------------------------------------------------------------

BEFORE_ALERTS = "8e4b2f1a7c30"


async def _counts(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    async with sessionmaker() as db:
        deliveries = (await db.execute(text("SELECT count(*) FROM outbox_deliveries"))).scalar()
        digests = (
            await db.execute(text("SELECT count(*) FROM outbox_deliveries WHERE call_id IS NULL"))
        ).scalar()
        attempts = (await db.execute(text("SELECT count(*) FROM delivery_attempts"))).scalar()
    return int(deliveries or 0), int(digests or 0), int(attempts or 0)


async def test_the_migration_keeps_every_delivery_attempt_both_ways(
    world: World,
    worker: Worker,
    telegram: FakeTelegramServer,
    clock: ManualClock,
    database_url: str,
    engine: AsyncEngine,
) -> None:
    # SQLite copies the table to change a column: its attempts must not cascade away with it.
    await telegram_rule(world, telegram, "missed_call", "daily_digest")
    await missed_call(world)
    clock.now = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)
    await run_until_settled(worker, clock)
    assert await _counts(world.sessionmaker) == (2, 1, 2)
    await engine.dispose()
    try:
        await asyncio.to_thread(migrations.downgrade, database_url, BEFORE_ALERTS)
        # The digest names no call: it cannot stay; the call's delivery and attempt do.
        assert await _counts(world.sessionmaker) == (1, 0, 1)
    finally:
        await engine.dispose()
        await asyncio.to_thread(migrations.upgrade, database_url)
    assert await _counts(world.sessionmaker) == (1, 0, 1)


# --- form leads (the trigger lands with the form leads; the sending side is here) ------------


async def test_a_form_lead_is_told_to_the_chat_and_the_mailbox(
    world: World,
    telegram: FakeTelegramServer,
    smtp_inbox: SmtpInbox,
    http: httpx.AsyncClient,
    clock: ManualClock,
    settings: Settings,
) -> None:
    by_chat = await telegram_rule(world, telegram, "form_lead")
    by_mail = await rule(
        world.client, world.site["id"], channel="email", to="a@shop.example", events=["form_lead"]
    )
    lead = FormLead(
        id=uuid.uuid4(),
        site_id=uuid.UUID(world.site["id"]),
        url="https://shop.example/contacts",
        form_id="callback",
        name="Анна <Smith>",
        phone="+79001234567",
        email="anna@example.com",
        fields={"comment": "Перезвоните после 18:00 & не раньше"},
        source="google",
        medium="cpc",
        campaign="brand",
        created_at=clock.now,
    )
    async with world.sessionmaker() as db:
        rows = await repository.connectors_by_id(
            db, [uuid.UUID(by_chat["id"]), uuid.UUID(by_mail["id"])]
        )
        site = (await repository.sites_by_id(db, [uuid.UUID(world.site["id"])]))[
            uuid.UUID(world.site["id"])
        ]
    for row in rows.values():
        assert FORM_EVENT in get_connector(row.kind).events(dict(row.config))
        job = Job(
            delivery_id=uuid.uuid4(),
            idempotency_key="cs_lead",
            event=FORM_EVENT,
            connector=ConnectorData.of(row),
            call=None,
            site=site,
            lead=lead,
        )
        crm = CrmHttp(
            client=http,
            clock=clock,
            sleep_until=virtual_sleep(clock),
            mailer=partial(send_mail, settings),
        )
        await get_connector(row.kind).push(crm, job)

    [sent] = telegram.telegram.sent
    assert sent.plain.startswith("New form lead from Анна <Smith>")
    assert "Phone: +79001234567" in sent.plain
    assert "comment: Перезвоните после 18:00 & не раньше" in sent.plain
    assert "Source: google / cpc / brand" in sent.plain
    [received] = await smtp_inbox.wait_for(1)
    assert received.message["Subject"] == "New form lead from Анна <Smith> · Shop"
    html_part = received.message.get_body(("html",))
    assert html_part is not None
    assert '<a href="mailto:anna@example.com">anna@example.com</a>' in html_part.get_content()


async def test_a_form_sent_on_the_site_reaches_the_chat_through_the_outbox(
    world: World, worker: Worker, telegram: FakeTelegramServer
) -> None:
    made = await telegram_rule(world, telegram, "form_lead")
    await enable_forms(world.client, world.site)
    session = await visit(world.anonymous, world.site)
    sent_form = await send_form(
        world.anonymous,
        world.site,
        session["session_id"],
        fields={"name": "Олег", "phone": "8 (900) 765-43-21", "comment": "<b>срочно</b>"},
    )
    assert sent_form.status_code == 201, sent_form.text
    await run_until_settled(worker, world.clock)

    [sent] = telegram.telegram.sent
    assert sent.plain.startswith("New form lead from Олег")
    assert "Phone: +79007654321" in sent.plain
    assert "comment: <b>срочно</b>" in sent.plain
    assert "Source: yandex / cpc / spring" in sent.plain
    [row] = await deliveries_of(world, made["id"])
    assert (row.event, row.status, row.call_id) == ("form", "sent", None)
    assert str(row.lead_id) == sent_form.json()["lead_id"]
