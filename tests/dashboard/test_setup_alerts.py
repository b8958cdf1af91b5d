"""Alerts on the Integrations page: the add form with its errors beside the fields, the test
button against a stand-in Telegram Bot API, a failing channel's last error and dead letters
with their retry, and removing a rule."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from httpx import AsyncClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.kit.outbound import OutboundPolicy, outbound_client
from app.models import OutboxDelivery
from crm_push.outbox import enqueue_digest
from crm_push.ratelimit import MemoryRateLimiter
from crm_push.worker import Worker, WorkerConfig
from tests.clock import ManualClock
from tests.conftest import PUBLIC_URL, TEST_ADMIN_TOKEN, TEST_SECRET_KEY
from tests.crm_push.fake_telegram import BOT_TOKEN, CHAT_ID, FakeTelegram, FakeTelegramServer
from tests.dashboard.conftest import csrf_of
from tests.dashboard.test_auth import _setup
from tests.factories import create_site


@pytest.fixture
def settings(database_url: str) -> Settings:
    # The stand-in Bot API is on loopback, which the guarded client refuses unless allowed.
    return Settings(
        database_url=database_url,
        redis_url="",
        admin_token=SecretStr(TEST_ADMIN_TOKEN),
        secret_key=SecretStr(TEST_SECRET_KEY),
        public_url=PUBLIC_URL,
        outbound_allow="127.0.0.1",
    )


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramServer]:
    server = FakeTelegramServer(FakeTelegram())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def _page(visitor: AsyncClient, site_id: str) -> str:
    page = await visitor.get(f"/sites/{site_id}/integrations")
    assert page.status_code == 200, page.text
    return page.text


async def test_a_telegram_alert_is_added_from_the_form(
    visitor: AsyncClient, client: AsyncClient
) -> None:
    await _setup(visitor)
    sid = (await create_site(client))["id"]
    html = await _page(visitor, sid)
    assert 'data-testid="new-alert-telegram"' in html
    assert 'data-testid="mail-off"' in html  # no SMTP in these settings

    # Without a chat id: the error beside the field, the token never echoed back.
    form = {
        "csrf_token": csrf_of(html),
        "channel": "telegram",
        "bot_token": BOT_TOKEN,
        "events": ["missed_call", "call"],
    }
    refused = await visitor.post(f"/sites/{sid}/notifications", data=form)
    assert refused.status_code == 422
    assert 'data-error="chat_id"' in refused.text
    assert BOT_TOKEN not in refused.text
    assert (await client.get(f"/api/v1/sites/{sid}/notifications")).json()["items"] == []

    added = await visitor.post(f"/sites/{sid}/notifications", data={**form, "chat_id": CHAT_ID})
    assert added.status_code == 303, added.text
    [rule] = (await client.get(f"/api/v1/sites/{sid}/notifications")).json()["items"]
    assert (rule["channel"], rule["chat_id"]) == ("telegram", CHAT_ID)
    assert rule["events"] == ["missed_call", "call"]
    html = await _page(visitor, sid)
    assert f'data-rule="{rule["id"]}"' in html
    assert BOT_TOKEN not in html

    removed = await visitor.post(
        f"/sites/{sid}/notifications/{rule['id']}/retire", data={"csrf_token": csrf_of(html)}
    )
    assert removed.status_code == 303
    assert (await client.get(f"/api/v1/sites/{sid}/notifications")).json()["items"] == []


async def test_email_while_smtp_is_off_says_so_beside_the_choice(
    visitor: AsyncClient, client: AsyncClient
) -> None:
    await _setup(visitor)
    sid = (await create_site(client))["id"]
    html = await _page(visitor, sid)
    form = {
        "csrf_token": csrf_of(html),
        "channel": "email",
        "to": "sales@shop.example",
        "events": ["missed_call"],
    }
    refused = await visitor.post(f"/sites/{sid}/notifications", data=form)
    assert refused.status_code == 422
    assert 'data-error="channel"' in refused.text
    assert "CALLSOURCE_SMTP_URL" in refused.text
    assert 'value="sales@shop.example"' in refused.text
    empty = await visitor.post(f"/sites/{sid}/notifications", data={**form, "events": [], "to": ""})
    assert empty.status_code == 422
    assert 'data-error="events"' in empty.text


async def test_the_test_button_and_a_failing_channel_with_its_retry(
    visitor: AsyncClient,
    client: AsyncClient,
    telegram: FakeTelegramServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    settings: Settings,
) -> None:
    await _setup(visitor)
    sid = (await create_site(client))["id"]
    created = await client.post(
        f"/api/v1/sites/{sid}/notifications",
        json={
            "channel": "telegram",
            "chat_id": CHAT_ID,
            "bot_token": BOT_TOKEN,
            "api_base": telegram.url,
            "events": ["daily_digest"],
        },
    )
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]

    html = await _page(visitor, sid)
    tested = await visitor.post(
        f"/sites/{sid}/notifications/{rule_id}/test", data={"csrf_token": csrf_of(html)}
    )
    assert tested.status_code == 200
    assert 'data-testid="alert-test-result"' in tested.text
    assert "Test message sent:" in tested.text
    [sent] = telegram.telegram.sent
    assert "Callsource test message" in sent.plain

    # The chat blocks the bot: a digest goes dead and the page says why, with a retry.
    telegram.telegram.blocked.add(CHAT_ID)
    async with sessionmaker() as db:
        payload = {"day": "2026-11-01", "calls": 0, "missed": 0, "leads": 0, "currency": "RUB"}
        await enqueue_digest(
            db,
            connector_id=uuid.UUID(rule_id),
            event="digest.daily",
            day=date(2026, 11, 1),
            payload=payload,
            now=clock.now,
        )
        await db.commit()
    async with outbound_client(OutboundPolicy.parse(settings.outbound_allow)) as http:
        worker = Worker(
            sessionmaker,
            http=http,
            limiter=MemoryRateLimiter(),
            config=WorkerConfig(),
            clock=clock,
            rng=random.Random(1),
        )
        await worker.drain()
    html = await _page(visitor, sid)
    assert 'data-testid="alert-error"' in html
    assert "Telegram 403: Forbidden: bot was blocked by the user" in html
    assert "digest of 2026-11-01" in html
    async with sessionmaker() as db:
        row = (await db.execute(select(OutboxDelivery))).scalar_one()
    assert row.status == "dead"

    telegram.telegram.blocked.clear()
    retried = await visitor.post(
        f"/sites/{sid}/notifications/{rule_id}/deliveries/{row.id}/retry",
        data={"csrf_token": csrf_of(html)},
    )
    assert retried.status_code == 303
    async with sessionmaker() as db:
        again = (await db.execute(select(OutboxDelivery))).scalar_one()
    assert again.status == "pending"
    assert datetime(2026, 1, 1, tzinfo=UTC) < again.next_attempt_at
