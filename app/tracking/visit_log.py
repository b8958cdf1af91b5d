"""Writing a new visit: its visitor, its session and what each pool decided for it, together.

This is the busiest write of the service (every first page view of every visitor). On
PostgreSQL it is one statement, committed as it runs: data-modifying CTEs insert the visitor,
the session, the lease log rows and the fallbacks, and close the leases the store ended, in one
round trip instead of seven (BEGIN, five statements, COMMIT). Elsewhere (SQLite, the embedded
default) the same rows are written one statement at a time in the request's transaction.

Either way the fence holds: a lease whose (number, generation) the log already has is not
inserted, and is handed back to the caller to lease again.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import PoolProxiedConnection

from app.kit import dialect
from app.models import TrackingSession
from app.tracking import repository
from numberpool.service import LeasePlan, forgotten_end, log_fenced, write_plan

_SESSION_COLUMNS = [c.name for c in cast(Table, TrackingSession.__table__).columns]

# Arrays keep the text fixed (one prepared statement) whatever the number of pools and closes.
# `forgotten` skips the rows `closed` ends: one statement must not update a row twice.
# The only text spliced in is our own table's column names; every value is a bind parameter.
_NEW_VISIT_SQL = f"""
WITH new_visitor AS (
    INSERT INTO visitors (id, site_id, created_at, last_seen_at)
    SELECT CAST(:visitor_id AS uuid), CAST(:site_id AS uuid), CAST(:now AS timestamptz),
        CAST(:now AS timestamptz)
    WHERE CAST(:create_visitor AS boolean)
), new_session AS (
    INSERT INTO tracking_sessions ({", ".join(_SESSION_COLUMNS)})
    VALUES ({", ".join(f":s_{c}" for c in _SESSION_COLUMNS)})
), closes AS (
    SELECT * FROM unnest(
        CAST(:close_numbers AS uuid[]), CAST(:close_generations AS integer[]),
        CAST(:close_ends AS timestamptz[])
    ) AS c(number, generation, ended_at)
), closed AS (
    UPDATE number_assignments AS a SET ended_at = closes.ended_at
    FROM closes
    WHERE a.tracking_number_id = closes.number AND a.generation = closes.generation
        AND a.ended_at IS NULL
), leases AS (
    SELECT * FROM unnest(
        CAST(:lease_ids AS uuid[]), CAST(:lease_pools AS uuid[]),
        CAST(:lease_numbers AS uuid[]), CAST(:lease_generations AS integer[]),
        CAST(:lease_starts AS timestamptz[]), CAST(:lease_forgotten AS timestamptz[])
    ) AS l(id, pool_id, number, generation, started_at, forgotten_end)
), leased AS (
    INSERT INTO number_assignments
        (id, pool_id, tracking_number_id, session_id, visitor_id, generation, started_at)
    SELECT id, pool_id, number, CAST(:s_id AS uuid), CAST(:s_visitor_id AS uuid), generation,
        started_at
    FROM leases
    ON CONFLICT (tracking_number_id, generation) DO NOTHING
    RETURNING tracking_number_id, generation
), forgotten AS (
    UPDATE number_assignments AS a SET ended_at = leases.forgotten_end
    FROM leased JOIN leases
        ON leases.number = leased.tracking_number_id AND leases.generation = leased.generation
    WHERE a.tracking_number_id = leased.tracking_number_id
        AND a.generation < leased.generation AND a.ended_at IS NULL
        AND a.started_at <= leases.forgotten_end
        AND NOT EXISTS (
            SELECT 1 FROM closes
            WHERE closes.number = a.tracking_number_id AND closes.generation = a.generation
        )
), fell_back AS (
    INSERT INTO number_fallbacks
        (id, pool_id, session_id, tracking_number_id, kind, reason, served_at)
    SELECT f.id, f.pool_id, CAST(:s_id AS uuid), f.number, f.kind, f.reason,
        CAST(:now AS timestamptz)
    FROM unnest(
        CAST(:fallback_ids AS uuid[]), CAST(:fallback_pools AS uuid[]),
        CAST(:fallback_numbers AS uuid[]), CAST(:fallback_kinds AS varchar[]),
        CAST(:fallback_reasons AS varchar[])
    ) AS f(id, pool_id, number, kind, reason)
)
SELECT tracking_number_id, generation FROM leased
"""  # noqa: S608


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` placeholders as asyncpg's `$n`, and the names in their order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"(?<![:\w]):(\w+)", number, sql), tuple(names)


# Run on the driver itself: SQLAlchemy's layers cost more than the statement did.
_NEW_VISIT, _NEW_VISIT_PARAMS = _numbered(_NEW_VISIT_SQL)


async def record_new_visit(
    db: AsyncSession,
    *,
    visitor_id: uuid.UUID | None,
    create_visitor: bool,
    site_id: uuid.UUID,
    session: dict[str, Any],
    plans: Sequence[LeasePlan],
    now: datetime,
) -> list[LeasePlan]:
    """Write the visit and its plans; the plans whose new lease was fenced (not written)."""
    if not dialect.writes_in_ctes(db):
        return await _one_by_one(
            db,
            visitor_id=visitor_id,
            create_visitor=create_visitor,
            site_id=site_id,
            session=session,
            plans=plans,
            now=now,
        )
    params = _params(
        visitor_id=visitor_id,
        create_visitor=create_visitor,
        site_id=site_id,
        session=session,
        plans=plans,
        now=now,
    )
    if db.in_transaction():
        # The request already wrote something (a returning visitor's last visit): join it.
        raw = await (await db.connection()).get_raw_connection()
        inserted = await _run(raw, params)
    else:
        # A pooled connection nobody began a transaction on: the statement commits as it
        # runs. Taken from the pool as it is, not as a SQLAlchemy Connection: that one's
        # checkout and return cost 160 us, four times the pool's own (bench/tracker_sessions.py).
        raw = await cast(AsyncEngine, db.bind).raw_connection()
        try:
            inserted = await _run(raw, params)
        except BaseException:
            # Whatever broke (the server gone, the statement cancelled half-way), the
            # connection is not handed to the next request: the pool opens a new one.
            raw.invalidate()
            raise
        finally:
            raw.close()
    fenced = [
        plan
        for plan in plans
        if plan.lease is not None
        and (uuid.UUID(plan.lease.number), plan.lease.generation) not in inserted
    ]
    for plan in fenced:
        assert plan.lease is not None
        log_fenced(plan.pool_id, plan.lease)
    return fenced


async def _run(raw: PoolProxiedConnection, params: dict[str, Any]) -> set[tuple[uuid.UUID, int]]:
    driver = raw.driver_connection
    assert driver is not None
    rows = await driver.fetch(_NEW_VISIT, *(params[name] for name in _NEW_VISIT_PARAMS))
    return {(row[0], row[1]) for row in rows}


def _params(
    *,
    visitor_id: uuid.UUID | None,
    create_visitor: bool,
    site_id: uuid.UUID,
    session: dict[str, Any],
    plans: Sequence[LeasePlan],
    now: datetime,
) -> dict[str, Any]:
    closes = [c for plan in plans for c in plan.closed]
    leases = [plan for plan in plans if plan.lease is not None]
    fallbacks = [plan for plan in plans if plan.fallback is not None]
    return {
        "visitor_id": visitor_id,
        "create_visitor": create_visitor,
        "site_id": site_id,
        "now": now,
        **{f"s_{column}": session[column] for column in _SESSION_COLUMNS},
        "close_numbers": [uuid.UUID(c.number) for c in closes],
        "close_generations": [c.generation for c in closes],
        "close_ends": [c.ended_at for c in closes],
        "lease_ids": [uuid.uuid4() for _ in leases],
        "lease_pools": [p.pool_id for p in leases],
        "lease_numbers": [uuid.UUID(p.lease.number) for p in leases if p.lease],
        "lease_generations": [p.lease.generation for p in leases if p.lease],
        "lease_starts": [p.lease.started_at for p in leases if p.lease],
        "lease_forgotten": [forgotten_end(p.lease, p.cooldown_s) for p in leases if p.lease],
        "fallback_ids": [uuid.uuid4() for _ in fallbacks],
        "fallback_pools": [p.pool_id for p in fallbacks],
        "fallback_numbers": [p.served.tracking_number_id for p in fallbacks],
        "fallback_kinds": [p.served.kind for p in fallbacks],
        "fallback_reasons": [p.fallback for p in fallbacks],
    }


async def _one_by_one(
    db: AsyncSession,
    *,
    visitor_id: uuid.UUID | None,
    create_visitor: bool,
    site_id: uuid.UUID,
    session: dict[str, Any],
    plans: Sequence[LeasePlan],
    now: datetime,
) -> list[LeasePlan]:
    if create_visitor and visitor_id is not None:
        await repository.insert_visitor(db, site_id=site_id, visitor_id=visitor_id, now=now)
    await repository.insert_session(db, session)
    fenced = []
    for plan in plans:
        if not await write_plan(db, plan, session_id=session["id"], visitor_id=visitor_id, now=now):
            fenced.append(plan)
    return fenced
