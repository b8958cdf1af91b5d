"""All SQL of the number pool: the assignment log, fallbacks, and the numbers a pool serves."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit import dialect
from app.models import (
    NumberAssignment,
    NumberFallback,
    NumberKind,
    Pool,
    TargetNumber,
    TrackingNumber,
    TrackingSession,
)
from numberpool.rules import REFUSAL_REASONS
from numberpool.source_rules import SourceRule, live_rules


async def pool_of_site(db: AsyncSession, *, site_id: uuid.UUID, pool_id: uuid.UUID) -> Pool | None:
    pool = await db.get(Pool, pool_id)
    return pool if pool is not None and pool.site_id == site_id else None


async def live_pools(db: AsyncSession) -> Sequence[Pool]:
    return (await db.execute(select(Pool).where(Pool.retired_at.is_(None)))).scalars().all()


async def pool_number_ids(db: AsyncSession, *, pool_id: uuid.UUID) -> list[uuid.UUID]:
    """The numbers the pool hands out now: its active dynamic numbers."""
    query = select(TrackingNumber.id).where(
        TrackingNumber.pool_id == pool_id,
        TrackingNumber.kind == NumberKind.DYNAMIC.value,
        TrackingNumber.retired_at.is_(None),
    )
    return list((await db.execute(query.order_by(TrackingNumber.id))).scalars())


async def number_e164(db: AsyncSession, *, tracking_number_id: uuid.UUID) -> str:
    query = select(TrackingNumber.number).where(TrackingNumber.id == tracking_number_id)
    return (await db.execute(query)).scalar_one()


async def target_e164(db: AsyncSession, *, target_number_id: uuid.UUID) -> str:
    query = select(TargetNumber.number).where(TargetNumber.id == target_number_id)
    return (await db.execute(query)).scalar_one()


async def latest_assignments(
    db: AsyncSession, *, tracking_number_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, NumberAssignment]:
    """The highest generation of each number: its current or last lease (in any pool)."""
    if not tracking_number_ids:
        return {}
    latest = (
        select(
            NumberAssignment.tracking_number_id,
            func.max(NumberAssignment.generation).label("generation"),
        )
        .where(NumberAssignment.tracking_number_id.in_(tracking_number_ids))
        .group_by(NumberAssignment.tracking_number_id)
        .subquery()
    )
    query = select(NumberAssignment).join(
        latest,
        and_(
            NumberAssignment.tracking_number_id == latest.c.tracking_number_id,
            NumberAssignment.generation == latest.c.generation,
        ),
    )
    rows = (await db.execute(query)).scalars()
    return {row.tracking_number_id: row for row in rows}


# The statements of every lease and fallback, built once: constructing them per call cost more
# than running them.
_ASSIGNMENTS = cast(Table, NumberAssignment.__table__)
_FALLBACKS = cast(Table, NumberFallback.__table__)
_INSERT_FALLBACK = insert(_FALLBACKS)
_CLOSE_ASSIGNMENT = (
    update(_ASSIGNMENTS)
    .where(
        _ASSIGNMENTS.c.tracking_number_id == bindparam("b_number"),
        _ASSIGNMENTS.c.generation == bindparam("b_generation"),
        _ASSIGNMENTS.c.ended_at.is_(None),
    )
    .values(ended_at=bindparam("b_ended_at"))
)
_CLOSE_FORGOTTEN = (
    update(_ASSIGNMENTS)
    .where(
        _ASSIGNMENTS.c.tracking_number_id == bindparam("b_number"),
        _ASSIGNMENTS.c.generation < bindparam("b_generation"),
        _ASSIGNMENTS.c.ended_at.is_(None),
        _ASSIGNMENTS.c.started_at <= bindparam("b_ended_at"),
    )
    .values(ended_at=bindparam("b_ended_at"))
)


_INSERT_ASSIGNMENT = dialect.PerDialect(
    lambda insert_into: (
        insert_into(_ASSIGNMENTS)
        .on_conflict_do_nothing(index_elements=["tracking_number_id", "generation"])
        .returning(_ASSIGNMENTS.c.id)
    )
)


async def insert_assignment(
    db: AsyncSession,
    *,
    pool_id: uuid.UUID,
    tracking_number_id: uuid.UUID,
    session_id: uuid.UUID,
    visitor_id: uuid.UUID | None,
    generation: int,
    started_at: datetime,
) -> bool:
    """Log a lease; False when the log already has this (number, generation): the fence."""
    values = {
        "id": uuid.uuid4(),
        "pool_id": pool_id,
        "tracking_number_id": tracking_number_id,
        "session_id": session_id,
        "visitor_id": visitor_id,
        "generation": generation,
        "started_at": started_at,
        "ended_at": None,
    }
    connection = await db.connection()
    statement = _INSERT_ASSIGNMENT.on(connection)
    return (await connection.execute(statement, values)).scalar_one_or_none() is not None


async def close_assignment(
    db: AsyncSession, *, tracking_number_id: uuid.UUID, generation: int, ended_at: datetime
) -> None:
    connection = await db.connection()
    await connection.execute(
        _CLOSE_ASSIGNMENT,
        {"b_number": tracking_number_id, "b_generation": generation, "b_ended_at": ended_at},
    )


async def close_forgotten(
    db: AsyncSession, *, tracking_number_id: uuid.UUID, generation: int, ended_at: datetime
) -> None:
    """Close older rows of a number the store has just handed out again.

    They are open only if a step's closes were lost (a request that failed after its store
    call); the store knew they had ended, by `ended_at` at the latest.
    """
    connection = await db.connection()
    await connection.execute(
        _CLOSE_FORGOTTEN,
        {"b_number": tracking_number_id, "b_generation": generation, "b_ended_at": ended_at},
    )


async def insert_fallback(
    db: AsyncSession,
    *,
    pool_id: uuid.UUID,
    session_id: uuid.UUID,
    tracking_number_id: uuid.UUID | None,
    kind: str,
    reason: str,
    served_at: datetime,
) -> None:
    connection = await db.connection()
    await connection.execute(
        _INSERT_FALLBACK,
        {
            "id": uuid.uuid4(),
            "pool_id": pool_id,
            "session_id": session_id,
            "tracking_number_id": tracking_number_id,
            "kind": kind,
            "reason": reason,
            "served_at": served_at,
        },
    )


async def fallback_reasons(
    db: AsyncSession, *, pool_id: uuid.UUID, session_id: uuid.UUID
) -> set[str]:
    query = select(NumberFallback.reason).where(
        NumberFallback.pool_id == pool_id, NumberFallback.session_id == session_id
    )
    return set((await db.execute(query)).scalars())


async def open_assignment(
    db: AsyncSession, *, pool_id: uuid.UUID, session_id: uuid.UUID
) -> NumberAssignment | None:
    """The session's lease the log still has open, newest first."""
    query = (
        select(NumberAssignment)
        .where(
            NumberAssignment.pool_id == pool_id,
            NumberAssignment.session_id == session_id,
            NumberAssignment.ended_at.is_(None),
        )
        .order_by(NumberAssignment.started_at.desc())
        .limit(1)
    )
    return (await db.execute(query)).scalar_one_or_none()


async def source_rules(
    db: AsyncSession, *, site_id: uuid.UUID, target_number_id: uuid.UUID
) -> list[SourceRule]:
    """The live source-level numbers of a target, oldest first (the first wins a tie)."""
    query = select(TrackingNumber).where(
        TrackingNumber.site_id == site_id,
        TrackingNumber.kind == NumberKind.SOURCE.value,
        TrackingNumber.target_number_id == target_number_id,
        TrackingNumber.retired_at.is_(None),
    )
    numbers = (await db.execute(query.order_by(TrackingNumber.created_at))).scalars()
    return live_rules(numbers)


# The holder's session comes along (into the ORM session's identity map): attribution reads it
# next, and then finds it without another round trip.
_HELD_AT = (
    select(NumberAssignment, Pool, TrackingSession)
    .join(Pool, Pool.id == NumberAssignment.pool_id)
    .outerjoin(TrackingSession, TrackingSession.id == NumberAssignment.session_id)
    .where(
        NumberAssignment.tracking_number_id == bindparam("b_number"),
        NumberAssignment.started_at <= bindparam("b_at"),
    )
    .order_by(NumberAssignment.started_at.desc(), NumberAssignment.generation.desc())
    .limit(1)
)


async def held_at(
    db: AsyncSession, *, tracking_number_id: uuid.UUID, at: datetime
) -> tuple[NumberAssignment, Pool, TrackingSession | None] | None:
    """The latest lease of the number that started at or before `at`, with its pool and the
    session that held it (None for a lease the log kept after its session was erased)."""
    row = (await db.execute(_HELD_AT, {"b_number": tracking_number_id, "b_at": at})).first()
    return None if row is None else (row[0], row[1], row[2])


_HELD_BETWEEN = (
    select(NumberAssignment, Pool, TrackingSession)
    .join(Pool, Pool.id == NumberAssignment.pool_id)
    .outerjoin(TrackingSession, TrackingSession.id == NumberAssignment.session_id)
    .where(
        NumberAssignment.tracking_number_id == bindparam("b_number"),
        NumberAssignment.started_at >= bindparam("b_since"),
        NumberAssignment.started_at <= bindparam("b_until"),
    )
    .order_by(NumberAssignment.started_at.desc(), NumberAssignment.generation.desc())
    .limit(bindparam("b_limit"))
)


async def held_between(
    db: AsyncSession, *, tracking_number_id: uuid.UUID, since: datetime, until: datetime, limit: int
) -> list[tuple[NumberAssignment, Pool, TrackingSession | None]]:
    """Leases of the number that started in [since, until], newest first, at most `limit`."""
    params = {"b_number": tracking_number_id, "b_since": since, "b_until": until, "b_limit": limit}
    rows = (await db.execute(_HELD_BETWEEN, params)).all()
    return [(row[0], row[1], row[2]) for row in rows]


@dataclass(frozen=True, slots=True)
class LogWindow:
    """What pool health needs from a window of the log."""

    # (tracking number, started, ended or None) of every lease that occupied a number in it
    leases: list[tuple[uuid.UUID, datetime, datetime | None]]
    # (session, first time it asked the pool) of sessions that were served in it
    sessions: dict[uuid.UUID, datetime]
    fallback_sessions: set[uuid.UUID]  # served a fallback for the pool's own reasons
    exhausted_sessions: set[uuid.UUID]  # found the pool full
    # refused by the anti-draining rules, by reason (in neither of the above, nor in sessions
    # unless they held a lease too)
    refused: dict[str, set[uuid.UUID]]


async def log_window(db: AsyncSession, *, pool: Pool, start: datetime, end: datetime) -> LogWindow:
    resting_since = start - timedelta(seconds=pool.cooldown_s)
    lease_rows = (
        await db.execute(
            select(
                NumberAssignment.tracking_number_id,
                NumberAssignment.session_id,
                NumberAssignment.started_at,
                NumberAssignment.ended_at,
            ).where(
                NumberAssignment.pool_id == pool.id,
                NumberAssignment.started_at < end,
                or_(
                    NumberAssignment.ended_at.is_(None),
                    NumberAssignment.ended_at > resting_since,
                ),
            )
        )
    ).all()
    fallback_rows = (
        await db.execute(
            select(
                NumberFallback.session_id, NumberFallback.served_at, NumberFallback.reason
            ).where(
                NumberFallback.pool_id == pool.id,
                NumberFallback.served_at >= start,
                NumberFallback.served_at < end,
            )
        )
    ).all()
    sessions: dict[uuid.UUID, datetime] = {}
    for _number, session_id, started_at, _ended in lease_rows:
        if start <= started_at < end and started_at < sessions.get(session_id, end):
            sessions[session_id] = started_at
    fallback_sessions: set[uuid.UUID] = set()
    exhausted_sessions: set[uuid.UUID] = set()
    refused: dict[str, set[uuid.UUID]] = {}
    for session_id, served_at, reason in fallback_rows:
        if reason in REFUSAL_REASONS:
            refused.setdefault(reason, set()).add(session_id)
            continue
        if served_at < sessions.get(session_id, end):
            sessions[session_id] = served_at
        fallback_sessions.add(session_id)
        if reason == "exhausted":
            exhausted_sessions.add(session_id)
    return LogWindow(
        leases=[(number, started, ended) for number, _s, started, ended in lease_rows],
        sessions=sessions,
        fallback_sessions=fallback_sessions,
        exhausted_sessions=exhausted_sessions,
        refused=refused,
    )
