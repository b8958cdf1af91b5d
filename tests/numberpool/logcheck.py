"""The log's own invariant: no number held by two visitors within a lease and its cooldown."""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import NumberAssignment, Pool


async def assert_no_overlap(db: AsyncSession, pool: Pool) -> int:
    """Check every number of the pool; returns how many leases the log holds."""
    query = select(NumberAssignment).where(NumberAssignment.pool_id == pool.id)
    rows = (await db.execute(query)).scalars().all()
    by_number: dict[uuid.UUID, list[NumberAssignment]] = defaultdict(list)
    for row in rows:
        by_number[row.tracking_number_id].append(row)
    cooldown = timedelta(seconds=pool.cooldown_s)
    for number, leases in by_number.items():
        leases.sort(key=lambda row: row.generation)
        generations = [row.generation for row in leases]
        assert generations == list(range(1, len(leases) + 1)), (number, generations)
        for before, after in itertools.pairwise(leases):
            same = before.session_id == after.session_id or (
                before.visitor_id is not None and before.visitor_id == after.visitor_id
            )
            if same:
                continue  # a visitor given their own number back
            assert before.ended_at is not None, f"{number} gen {after.generation}: open before"
            assert after.started_at >= before.ended_at + cooldown, (
                f"{number}: gen {after.generation} at {after.started_at} inside the lease or "
                f"cooldown of gen {before.generation} (ended {before.ended_at})"
            )
    return len(rows)
