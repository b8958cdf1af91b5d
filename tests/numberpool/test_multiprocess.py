"""Several OS processes share one Redis pool, and Redis is flushed while they run."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from numberpool.redis_store import pool_keys
from tests.numberpool.conftest import create_pool
from tests.numberpool.logcheck import assert_no_overlap

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
DURATION_S = 3.0


async def test_processes_share_a_pool_and_survive_a_flush(
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
    redis_url: str,
) -> None:
    async with sessionmaker() as db:
        setup = await create_pool(db, numbers=6, idle_timeout_s=1, cooldown_s=1, max_lease_s=3)
        await db.commit()
    processes = []
    for seed in range(WORKERS):
        config = {
            "database_url": database_url,
            "redis_url": redis_url,
            "pool_id": str(setup.pool.id),
            "seed": seed,
            "duration_s": DURATION_S,
        }
        processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.numberpool.pool_worker",
                json.dumps(config),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        )
    try:
        for process in processes:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
            assert line.strip() == b"started", line
        await asyncio.sleep(DURATION_S / 2)
        await redis.flushdb()  # every pool is gone: the next step rebuilds from the log
        results = [await asyncio.wait_for(p.communicate(), timeout=60) for p in processes]
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    counts = []
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err.decode()[-3000:]
        counts.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert all(c.get("dynamic", 0) > 0 for c in counts), counts
    assert sum(c.get("dynamic", 0) for c in counts) > 50, counts
    assert sum(c.get("target", 0) for c in counts) > 0, counts  # the pool was contended
    assert await redis.exists(pool_keys(str(setup.pool.id))[0]), "the pool was not rebuilt"
    async with sessionmaker() as db:
        leases = await assert_no_overlap(db, setup.pool)
    assert leases >= 10
