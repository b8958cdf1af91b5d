"""CRM push benchmarks against the local CRM server (tests/crm_push/fake_crm.py, real HTTP on
127.0.0.1):

1. throughput: deliveries per second through the worker with the rate limits off;
2. backlog: the time to drain a backlog of calls with the rate limits on. The limits make it
   minutes to hours of waiting, so it runs on a simulated clock that jumps over the waits
   (every request still goes over real HTTP); the simulated time is the drain time a real
   CRM would see, and the wall time shows the worker's own cost.

    .venv/bin/python -m bench.crm_worker throughput --calls 2000
    .venv/bin/python -m bench.crm_worker backlog --calls 10000 [--database-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import migrations
from app.db import create_engine, create_sessionmaker
from app.models import Call, CrmConnector, OutboxDelivery, PbxIntegration, Site
from crm_push.outbox import idempotency_key
from crm_push.ratelimit import MemoryRateLimiter
from crm_push.transport import SleepUntil
from crm_push.worker import Worker, WorkerConfig
from tests.clock import ManualClock
from tests.crm_push.fake_crm import AMO_TOKEN, FakeCrm, FakeCrmServer

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
KINDS = ("amocrm", "bitrix24", "webhook")


async def seed(
    sessionmaker: async_sessionmaker[AsyncSession], server: FakeCrmServer, kind: str, calls: int
) -> uuid.UUID:
    """A site, a PBX, a connector and `calls` ended calls with their pending deliveries."""
    site_id, pbx_id, connector_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    config: dict[str, Any] = {
        "amocrm": {"base_url": server.amo_url},
        "webhook": {"url": server.receiver_url},
    }.get(kind, {})
    credentials: dict[str, Any] = {
        "amocrm": {"token": AMO_TOKEN},
        "bitrix24": {"webhook_url": server.bitrix_url},
        "webhook": {"secret": "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="},
    }[kind]
    server.crm.webhook_secrets.append(credentials.get("secret", ""))
    async with sessionmaker() as db:
        db.add(
            Site(
                id=site_id,
                public_key=f"cs_{uuid.uuid4().hex[:16]}",
                name="Bench",
                domains=["bench.example"],
                country="RU",
                timezone="Europe/Moscow",
                created_at=START,
            )
        )
        await db.flush()
        db.add(
            PbxIntegration(
                id=pbx_id,
                site_id=site_id,
                provider="generic",
                name=None,
                credentials={},
                settings={},
                created_at=START,
            )
        )
        db.add(
            CrmConnector(
                id=connector_id,
                site_id=site_id,
                kind=kind,
                name=None,
                config=config,
                credentials=credentials,
                created_at=START,
                deals_poll_at=START + timedelta(days=365),
            )
        )
        await db.flush()
        for chunk in range(0, calls, 1000):
            rows: list[dict[str, Any]] = []
            ids: list[uuid.UUID] = []
            for n in range(chunk, min(chunk + 1000, calls)):
                started = START + timedelta(seconds=n)
                ids.append(uuid.uuid4())
                rows.append(
                    {
                        "id": ids[-1],
                        "site_id": site_id,
                        "integration_id": pbx_id,
                        "provider_call_id": f"bench-{n}",
                        "caller": f"+7900{n:07d}",
                        "called": "+74950000101",
                        "status": "ended",
                        "outcome": "answered",
                        "started_at": started,
                        "ended_at": started + timedelta(seconds=60),
                        "duration": 60,
                        "first_time_caller": True,
                        "possible_spam": False,
                        "attribution_method": "source",
                        "confidence": 0.8,
                        "attribution_conflict": False,
                        "source": "yandex",
                        "medium": "cpc",
                        "campaign": "bench",
                        "created_at": started,
                        "updated_at": started,
                    }
                )
            await db.execute(insert(Call), rows)
            await db.execute(
                insert(OutboxDelivery),
                [
                    {
                        "id": uuid.uuid4(),
                        "connector_id": connector_id,
                        "call_id": call_id,
                        "event": "call.attributed",
                        "idempotency_key": idempotency_key(
                            connector_id=connector_id, call_id=call_id, event="call.attributed"
                        ),
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": START,
                        "maybe_created": False,
                        "created_at": START,
                        "updated_at": START,
                    }
                    for call_id in ids
                ],
            )
        await db.commit()
    return connector_id


async def sent(sessionmaker: async_sessionmaker[AsyncSession], connector_id: uuid.UUID) -> int:
    async with sessionmaker() as db:
        query = select(func.count()).where(
            OutboxDelivery.connector_id == connector_id, OutboxDelivery.status == "sent"
        )
        return int(await db.scalar(query) or 0)


def run(kind: str, calls: int, database_url: str | None, *, rate_limits: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        migrations.upgrade(url)
        return asyncio.run(_run(kind, calls, url, rate_limits=rate_limits))


def virtual_sleep(clock: ManualClock) -> SleepUntil:
    async def sleep_until(moment: datetime) -> None:
        clock.now = max(clock.now, moment)
        await asyncio.sleep(0)

    return sleep_until


async def _run(kind: str, calls: int, url: str, *, rate_limits: bool) -> dict[str, Any]:
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    # With the limits on, time is simulated (the waits are jumped over); with them off,
    # nothing waits and the clock only stamps rows.
    clock = ManualClock(START)
    server = FakeCrmServer(FakeCrm(clock=clock))
    await server.start()
    try:
        connector_id = await seed(sessionmaker, server, kind, calls)
        config = WorkerConfig(batch_size=100, concurrency=25, rate_limits=rate_limits)
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(limits=limits) as http:
            worker = Worker(
                sessionmaker,
                http=http,
                limiter=MemoryRateLimiter(),
                config=config,
                clock=clock,
                sleep_until=virtual_sleep(clock),
                rng=random.Random(1),
            )
            wall = time.perf_counter()
            while await worker.deliver_due():
                pass
            wall = time.perf_counter() - wall
        delivered = await sent(sessionmaker, connector_id)
        counts = server.crm.records_by_key()
        # Every call in the CRM exactly once, or the numbers mean nothing.
        assert delivered == calls == len(counts), (delivered, len(counts))
        assert set(counts.values()) == {1}
        result: dict[str, Any] = {
            "kind": kind,
            "calls": calls,
            "backend": engine.dialect.name,
            "rate_limits": rate_limits,
            "requests": len(server.crm.requests),
            "wall_s": round(wall, 2),
        }
        if rate_limits:
            simulated = (clock.now - START).total_seconds()
            # The waits are simulated, the work is not: a real drain takes the longer of the two.
            drain = max(simulated, wall)
            result["simulated_wait_s"] = round(simulated, 1)
            result["drain_s"] = round(drain, 1)
            result["deliveries_per_s"] = round(calls / drain, 2)
        else:
            result["deliveries_per_s"] = round(calls / wall, 1)
        return result
    finally:
        await server.stop()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["throughput", "backlog"])
    parser.add_argument("--calls", type=int, default=None)
    parser.add_argument("--kind", choices=KINDS, action="append")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    calls = args.calls or (2000 if args.mode == "throughput" else 10_000)
    for kind in args.kind or KINDS:
        result = run(kind, calls, args.database_url, rate_limits=args.mode == "backlog")
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
