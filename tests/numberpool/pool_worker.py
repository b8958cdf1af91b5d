"""One API process of the multi-process test: leases, pings and releases on a shared pool.

Run as `python -m tests.numberpool.pool_worker '<json config>'`; prints "started", then a JSON
line of counts. Uses the real clock, the real database and the shared Redis.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from collections import Counter
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import create_engine, create_sessionmaker
from app.kit.clock import utcnow
from app.models import Pool, TrackingSession, Visitor
from numberpool import service
from numberpool.redis_store import RedisStore


async def run(config: dict[str, str | float | int]) -> Counter[str]:
    engine = create_engine(str(config["database_url"]))
    sessionmaker = create_sessionmaker(engine)
    # Generous: several processes on two cores are slow, not down.
    store = RedisStore(str(config["redis_url"]), timeout_s=2.0)
    rng = random.Random(int(config["seed"]))
    counts: Counter[str] = Counter()
    active: list[TrackingSession] = []
    try:
        async with sessionmaker() as db:
            pool = await db.get(Pool, uuid.UUID(str(config["pool_id"])))
            assert pool is not None
        print("started", flush=True)
        deadline = time.monotonic() + float(config["duration_s"])
        while time.monotonic() < deadline:
            now = utcnow()
            async with sessionmaker() as db:
                roll = rng.random()
                if roll < 0.06 or not active:
                    visit = await _new_session(db, pool, now, reuse=active, rng=rng)
                    active = [*active[-2:], visit]
                    served = await service.lease_for_session(
                        db,
                        store,
                        pool=pool,
                        session_id=visit.id,
                        visitor_id=visit.visitor_id,
                        source="google",
                        medium="organic",
                        campaign=None,
                        now=now,
                    )
                elif roll < 0.95:
                    visit = rng.choice(active)
                    served = await service.ping_session(
                        db,
                        store,
                        pool=pool,
                        session_id=visit.id,
                        visitor_id=visit.visitor_id,
                        source="google",
                        medium="organic",
                        campaign=None,
                        now=now,
                    )
                else:
                    visit = active.pop(rng.randrange(len(active)))
                    await service.release_session(
                        db, store, pool=pool, session_id=visit.id, now=now
                    )
                    counts["release"] += 1
                    await db.commit()
                    continue
                counts[served.kind] += 1
                await db.commit()
            await asyncio.sleep(rng.uniform(0, 0.02))
    finally:
        await store.close()
        await engine.dispose()
    return counts


async def _new_session(
    db: AsyncSession,
    pool: Pool,
    now: datetime,
    *,
    reuse: list[TrackingSession],
    rng: random.Random,
) -> TrackingSession:
    if reuse and rng.random() < 0.2:
        visitor_id = rng.choice(reuse).visitor_id  # another tab of the same visitor
    else:
        visitor = Visitor(id=uuid.uuid4(), site_id=pool.site_id, created_at=now, last_seen_at=now)
        db.add(visitor)
        await db.flush()
        visitor_id = visitor.id
    visit = TrackingSession(
        id=uuid.uuid4(),
        site_id=pool.site_id,
        visitor_id=visitor_id,
        started_at=now,
        last_seen_at=now,
        landing_url="https://shop.example/",
        source="google",
        medium="organic",
        consent=True,
    )
    db.add(visit)
    await db.flush()
    return visit


def main() -> None:
    config = json.loads(sys.argv[1])
    counts = asyncio.run(run(config))
    print(json.dumps(dict(counts)), flush=True)


if __name__ == "__main__":
    main()
