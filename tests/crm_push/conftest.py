"""The CRM tests' world: a local CRM server on loopback, a site whose calls arrive through a
signed generic PBX webhook, and a worker on the test's simulated clock."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.kit.outbound import OutboundPolicy, outbound_client
from app.models import Call, OutboxDelivery
from crm_push.outbox import enqueue_for_call
from crm_push.ratelimit import MemoryRateLimiter, RateLimiter
from crm_push.retry import RetryPolicy
from crm_push.transport import SleepUntil
from crm_push.worker import Worker, WorkerConfig
from pbx_webhooks.providers.generic import sign
from tests.clock import ManualClock
from tests.crm_push.destinations_world import Destinations
from tests.crm_push.fake_crm import AMO_TOKEN, BITRIX_APP_TOKEN, FakeCrm, FakeCrmServer
from tests.crm_push.fake_platforms import Platforms, PlatformsServer
from tests.factories import create_pool, create_site

TARGET = "+74951234567"
SOURCE_NUMBER = "+74950000101"
CALLER = "+79001234567"


def virtual_sleep(clock: ManualClock) -> SleepUntil:
    """Waiting on the simulated clock: the clock jumps to the moment instead."""

    async def sleep_until(moment: datetime) -> None:
        clock.now = max(clock.now, moment)
        await asyncio.sleep(0)

    return sleep_until


# Short timeouts, so the fake CRM's "hang after creating" (1.5 s) outlasts them quickly, yet
# long enough that a busy CI machine answering slowly is not taken for a hang.
TEST_CONFIG = WorkerConfig(
    batch_size=20, concurrency=5, timeout_s=1.0, connect_timeout_s=1.0, retry=RetryPolicy()
)


@pytest.fixture
async def crm(clock: ManualClock) -> AsyncIterator[FakeCrmServer]:
    server = FakeCrmServer(FakeCrm(clock=clock))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# The stand-in CRMs listen on loopback, which connectors reach only when it is allowed.
STAND_IN_ALLOW = "127.0.0.1,::1"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"outbound_allow": STAND_IN_ALLOW})


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The worker's client as `open_worker` makes it: guarded by the outbound policy."""
    async with outbound_client(OutboundPolicy.parse(settings.outbound_allow)) as client:
        yield client


def make_worker(
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    clock: ManualClock,
    *,
    limiter: RateLimiter | None = None,
    config: WorkerConfig = TEST_CONFIG,
) -> Worker:
    return Worker(
        sessionmaker,
        http=http,
        limiter=limiter or MemoryRateLimiter(),
        config=config,
        clock=clock,
        sleep_until=virtual_sleep(clock),
        rng=random.Random(7),
    )


@pytest.fixture
def worker(
    sessionmaker: async_sessionmaker[AsyncSession], http: httpx.AsyncClient, clock: ManualClock
) -> Worker:
    return make_worker(sessionmaker, http, clock)


class World:
    """A site with a pool, a source number (yandex / cpc / spring-sale) and a generic PBX."""

    def __init__(
        self,
        client: AsyncClient,
        anonymous: AsyncClient,
        clock: ManualClock,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        self.client, self.anonymous, self.clock = client, anonymous, clock
        self.sessionmaker = sessionmaker
        self.site: dict[str, Any] = {}
        self.pbx: dict[str, Any] = {}

    async def build(self) -> World:
        self.site = await create_site(self.client)
        sid = self.site["id"]
        await create_pool(self.client, sid, target_number=TARGET)
        source = {
            "number": SOURCE_NUMBER,
            "kind": "source",
            "target_number": TARGET,
            "source": "yandex",
            "medium": "cpc",
            "campaign": "spring-sale",
        }
        created = await self.client.post(f"/api/v1/sites/{sid}/static-numbers", json=source)
        assert created.status_code == 201, created.text
        self.pbx = (
            await self.client.post(f"/api/v1/sites/{sid}/pbx", json={"provider": "generic"})
        ).json()
        return self

    async def connector(self, kind: str, **body: Any) -> dict[str, Any]:
        response = await self.client.post(
            f"/api/v1/sites/{self.site['id']}/crm", json={"kind": kind, **body}
        )
        assert response.status_code == 201, response.text
        connector: dict[str, Any] = response.json()
        return connector

    async def amocrm(self, crm: FakeCrmServer, **body: Any) -> dict[str, Any]:
        return await self.connector("amocrm", base_url=crm.amo_url, token=AMO_TOKEN, **body)

    async def bitrix24(self, crm: FakeCrmServer) -> dict[str, Any]:
        return await self.connector(
            "bitrix24", webhook_url=crm.bitrix_url, application_token=BITRIX_APP_TOKEN
        )

    async def webhook(self, crm: FakeCrmServer, **body: Any) -> dict[str, Any]:
        connector = await self.connector("webhook", url=crm.receiver_url, **body)
        crm.crm.webhook_secrets.append(connector["secret"])
        return connector

    async def _hook(self, event: str, call_id: str, **fields: Any) -> None:
        body = json.dumps(
            {"event": event, "call_id": call_id, "timestamp": self.clock.now.isoformat(), **fields}
        ).encode()
        msg_id, ts = f"msg_{uuid.uuid4().hex}", str(int(self.clock.now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": ts,
            "webhook-signature": sign(self.pbx["secret"], msg_id, ts, body),
        }
        response = await self.anonymous.post(
            f"/hooks/pbx/{self.pbx['id']}", content=body, headers=headers
        )
        assert response.status_code == 200, response.text

    async def call(
        self, *, caller: str | None = CALLER, called: str = SOURCE_NUMBER, duration: int = 65
    ) -> Call:
        """A call through the PBX webhook, started and ended; its outbox rows enqueued."""
        provider_id = f"call-{uuid.uuid4().hex[:10]}"
        who = {"caller": caller, "called": called}
        await self._hook("call.started", provider_id, **who)
        self.clock.advance(seconds=duration)
        await self._hook(
            "call.ended",
            provider_id,
            **who,
            status="answered",
            duration=duration,
            talk_duration=duration - 5,
        )
        async with self.sessionmaker() as db:
            call = (
                await db.execute(select(Call).where(Call.provider_call_id == provider_id))
            ).scalar_one()
            # Idempotent: a no-op once app.calls enqueues in the call's own transaction.
            await enqueue_for_call(db, call=call, event="call.started", now=self.clock.now)
            await enqueue_for_call(db, call=call, event="call.attributed", now=self.clock.now)
            await db.commit()
        return call


@pytest.fixture
async def world(
    client: AsyncClient,
    anonymous: AsyncClient,
    clock: ManualClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> World:
    return await World(client, anonymous, clock, sessionmaker).build()


async def outbox(sessionmaker: async_sessionmaker[AsyncSession]) -> list[OutboxDelivery]:
    async with sessionmaker() as db:
        return list((await db.execute(select(OutboxDelivery))).scalars())


async def run_until_settled(
    worker: Worker, clock: ManualClock, *, step_s: float = 30, max_rounds: int = 500
) -> None:
    """Run the worker on the simulated clock until no delivery is pending."""
    for _ in range(max_rounds):
        await worker.drain()
        rows = await outbox(worker.sessionmaker)
        if all(row.status != "pending" for row in rows):
            return
        clock.advance(seconds=step_s)
    raise AssertionError("deliveries still pending after the simulated run")


@pytest.fixture
async def platforms(clock: ManualClock) -> AsyncIterator[PlatformsServer]:
    server = PlatformsServer(Platforms(clock=clock))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def dest(
    client: AsyncClient,
    anonymous: AsyncClient,
    clock: ManualClock,
    sessionmaker: async_sessionmaker[AsyncSession],
    platforms: PlatformsServer,
) -> Destinations:
    return await Destinations(client, anonymous, clock, sessionmaker, platforms).build()
