"""A real `callsource worker` process killed (SIGKILL) while the CRM holds its request open:
a second worker process resends within 30 s with the same idempotency key, one lead kept."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.cli_processes import CLI, ROOT, cli_env
from tests.conftest import TEST_SECRET_KEY
from tests.crm_push.conftest import World, outbox
from tests.crm_push.fake_crm import FakeCrmServer

pytestmark = [pytest.mark.slow, pytest.mark.only_on("postgresql")]


def _start_worker(database_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = cli_env(
        CALLSOURCE_DATABASE_URL=database_url,
        CALLSOURCE_REDIS_URL="",
        CALLSOURCE_SECRET_KEY=TEST_SECRET_KEY,
        # The stand-in CRM listens on loopback, which outgoing connectors refuse by default.
        CALLSOURCE_OUTBOUND_ALLOW="127.0.0.1",
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [*CLI, "worker"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


async def test_a_killed_workers_delivery_is_resent_by_another_within_30_s(
    world: World,
    crm: FakeCrmServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    tmp_path: Path,
) -> None:
    await world.webhook(crm)
    await world.call()
    queued = await outbox(sessionmaker)
    # The receiver takes the first message, then holds the request open far past any lease.
    crm.crm.hang_s = 120.0
    crm.crm.fail("hang_after_create", times=len(queued))
    log = tmp_path / "workers.log"

    first = _start_worker(database_url, log)
    try:
        for _ in range(600):  # the process starts and sends (60 s at most on a busy machine)
            if len(crm.crm.webhook_posts) == len(queued):
                break
            await asyncio.sleep(0.1)
        assert len(crm.crm.webhook_posts) == len(queued), log.read_text()
        first.kill()
        killed_at = time.monotonic()
        first.wait(timeout=10)
    finally:
        _stop(first)
    crm.crm.hang_s = 0.0

    second = _start_worker(database_url, log)
    try:
        while time.monotonic() - killed_at < 40:
            if {r.status for r in await outbox(sessionmaker)} == {"sent"}:
                break
            await asyncio.sleep(0.2)
        resumed_after = time.monotonic() - killed_at
    finally:
        _stop(second)

    rows = await outbox(sessionmaker)
    assert {r.status for r in rows} == {"sent"}, log.read_text()
    assert resumed_after < 30, resumed_after
    # Sent twice, under the same key both times; the receiver kept one message per key.
    keys = [headers["webhook-id"] for headers, _ in crm.crm.webhook_posts]
    assert len(keys) == 2 * len(queued)
    assert sorted(set(keys)) == sorted(r.idempotency_key for r in rows)
    assert set(crm.crm.records_by_key().values()) == {2}
    assert len(crm.crm.webhook_received) == len(queued)
