"""The signed webhook: Standard Webhooks v1, the same webhook-id on every retry, 410 disables."""

from __future__ import annotations

import itertools
import json

from httpx import AsyncClient

from app.snapshots import SnapshotCache
from crm_push.connectors.webhook import sign
from crm_push.worker import Worker
from tests.clock import ManualClock
from tests.crm_push.conftest import CALLER, World, outbox, run_until_settled
from tests.crm_push.fake_crm import FakeCrmServer


async def test_call_attributed_is_posted_signed_with_the_call_and_its_source(
    world: World, crm: FakeCrmServer, worker: Worker, clock: ManualClock
) -> None:
    connector = await world.webhook(crm)
    call = await world.call()

    await worker.drain()

    [(headers, body)] = crm.crm.webhook_posts
    [delivery] = await outbox(world.sessionmaker)
    assert headers["webhook-id"] == delivery.idempotency_key
    assert headers["webhook-timestamp"] == str(int(clock.now.timestamp()))
    assert headers["webhook-signature"] == sign(
        connector["secret"], headers["webhook-id"], int(headers["webhook-timestamp"]), body
    )
    message = json.loads(body)
    assert message["type"] == "call.attributed"
    assert message["data"]["site_id"] == world.site["id"]
    sent = message["data"]["call"]
    assert (sent["id"], sent["caller"], sent["status"]) == (str(call.id), CALLER, "ended")
    assert sent["attribution"]["source"] == "yandex"
    assert sent["attribution"]["campaign"] == "spring-sale"


async def test_call_started_is_sent_only_when_asked_for(
    world: World, crm: FakeCrmServer, worker: Worker
) -> None:
    await world.webhook(crm, events=["call.started", "call.attributed"])
    await world.webhook(crm)  # the default: call.attributed only
    await world.call()

    await worker.drain()

    types = sorted(json.loads(body)["type"] for _, body in crm.crm.webhook_posts)
    assert types == ["call.attributed", "call.attributed", "call.started"]


async def test_retries_keep_the_webhook_id_and_re_sign(
    world: World, crm: FakeCrmServer, worker: Worker, clock: ManualClock
) -> None:
    await world.webhook(crm)
    crm.crm.fail("500_after_create")
    crm.crm.fail("hang_after_create")
    crm.crm.fail("500")
    await world.call()

    await run_until_settled(worker, clock)

    ids = {h["webhook-id"] for h, _ in crm.crm.webhook_posts}
    timestamps = {h["webhook-timestamp"] for h, _ in crm.crm.webhook_posts}
    assert len(ids) == 1
    assert len(crm.crm.webhook_received) == 1
    assert len(timestamps) == len(crm.crm.webhook_posts) == 3  # 500 before recording: no post


async def test_a_receiver_answering_410_disables_the_endpoint(
    world: World, crm: FakeCrmServer, worker: Worker, client: AsyncClient
) -> None:
    connector = await world.connector("webhook", url=f"{crm.url}/gone")
    await world.call()

    await worker.drain()

    [delivery] = await outbox(world.sessionmaker)
    assert delivery.status == "dead"
    read = await client.get(f"/api/v1/sites/{world.site['id']}/crm/{connector['id']}")
    assert read.json()["retired_at"] is not None


async def test_the_endpoint_disabled_on_410_leaves_the_snapshots_renewed(
    world: World, crm: FakeCrmServer, worker: Worker
) -> None:
    # A PBX hook's snapshot lists the site's live connectors: the retired one must leave it.
    await world.connector("webhook", url=f"{crm.url}/gone")
    await world.call()
    snapshots: SnapshotCache[str, int] = SnapshotCache(ttl_s=3600, monotonic=lambda: 0.0)
    loads = itertools.count(1)

    async def load() -> int:
        return next(loads)

    before = await snapshots.get("key", load)
    await worker.drain()

    assert (before, await snapshots.get("key", load)) == (1, 2)
