"""The number pool service: the store decides, the assignment log in the database records.

Every function takes the database session first and never commits: the request or job that
calls it commits once. The store (Redis or embedded) is a cache of the log's open rows; when it
has lost a pool, the pool is rebuilt from the log before it serves again, and when it cannot
answer, the visitor gets the fallback (source number, else the target) without an error.

Fencing: each lease carries a generation per number and the log refuses a second row with the
same (number, generation). A store that is behind the log (a lost write, a stale copy) would hand
out a generation the log already has; the insert then fails, the pool is rebuilt from the log and
the lease is tried again, so the log never shows two holders of one number.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import NumberAssignment, Pool, TrackingSession
from numberpool import health, repository
from numberpool.health import PoolHealth
from numberpool.rules import (
    REFUSAL_REASONS,
    ClientKey,
    DrainLimits,
    FallbackReason,
    LoggedLease,
    PoolSettings,
    VisitRefusal,
    restore_record,
)
from numberpool.source_rules import SourceRule, pick_source_number
from numberpool.store import (
    Closed,
    Exhausted,
    Lease,
    NeedsRebuild,
    PoolStats,
    PoolStore,
    Refused,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

ServedKind = Literal["dynamic", "source", "target"]
# A session shown a fallback for one of these keeps it for the rest of the visit.
_STICKY_REASONS = frozenset({"exhausted", *REFUSAL_REASONS})
_Outcome = TypeVar("_Outcome")


@dataclass(frozen=True, slots=True)
class ServedNumber:
    """What to show instead of the pool's target number."""

    number: str  # E.164
    kind: ServedKind
    tracking_number_id: uuid.UUID | None  # None when the target itself is shown


class PoolLike(Protocol):
    """What the service reads of a pool: an ORM Pool, or a snapshot of one."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def site_id(self) -> uuid.UUID: ...
    @property
    def target_number_id(self) -> uuid.UUID: ...
    @property
    def idle_timeout_s(self) -> int: ...
    @property
    def cooldown_s(self) -> int: ...
    @property
    def max_lease_s(self) -> int: ...


@dataclass(frozen=True, slots=True)
class KnownNumbers:
    """What a pool may show, when the caller already has it (the tracker keeps a snapshot of
    each site): the pool's numbers in E.164, the source-level rules of its target, and the
    target. Without it the service reads them from the database."""

    target: str
    dynamic: Mapping[uuid.UUID, str] = field(default_factory=dict)
    rules: tuple[SourceRule, ...] = ()


@dataclass(frozen=True, slots=True)
class PoolVisit:
    """The session asking a pool for a number, and what it may be shown instead."""

    session_id: uuid.UUID
    visitor_id: uuid.UUID | None
    source: str
    medium: str | None
    campaign: str | None
    known: KnownNumbers | None = None
    # Who asks and what they may take (None: no anti-draining limits, as in the simulator).
    client: ClientKey | None = None
    limits: DrainLimits | None = None
    # The tracker refused the session a dynamic number before asking the pool.
    refusal: VisitRefusal | None = None


def pool_settings(pool: PoolLike) -> PoolSettings:
    return PoolSettings(
        idle_timeout_s=pool.idle_timeout_s, cooldown_s=pool.cooldown_s, max_lease_s=pool.max_lease_s
    )


async def lease_for_session(
    db: AsyncSession,
    store: PoolStore,
    *,
    pool: PoolLike,
    session_id: uuid.UUID,
    visitor_id: uuid.UUID | None,
    source: str,
    medium: str | None,
    campaign: str | None,
    now: datetime,
    known: KnownNumbers | None = None,
) -> ServedNumber:
    """The number a session starting now is shown; never raises for store trouble."""
    visit = PoolVisit(session_id, visitor_id, source, medium, campaign, known)
    return await _lease(db, store, pool=pool, visit=visit, now=now)


async def ping_session(
    db: AsyncSession,
    store: PoolStore,
    *,
    pool: PoolLike,
    session_id: uuid.UUID,
    visitor_id: uuid.UUID | None,
    source: str,
    medium: str | None,
    campaign: str | None,
    now: datetime,
    known: KnownNumbers | None = None,
    client: ClientKey | None = None,
    limits: DrainLimits | None = None,
    refusal: VisitRefusal | None = None,
) -> ServedNumber:
    """Keep the session's number alive, or give it the number it should see from now on.

    A session that found the pool full keeps its fallback for the rest of the visit (swapping
    numbers under a visitor who may have noted one helps nobody, and it keeps the pool a loss
    system that Erlang B sizes); so does a session refused by the anti-draining rules. A ping
    the tracker refuses (not a browser on the site) gets the fallback and keeps no lease alive.
    While the store is down, a session keeps the number the log says it holds.
    """
    visit = PoolVisit(
        session_id, visitor_id, source, medium, campaign, known, client, limits, refusal
    )
    if refusal is not None:
        reasons = await repository.fallback_reasons(db, pool_id=pool.id, session_id=session_id)
        return await _fallback(
            db, pool=pool, visit=visit, reason=refusal, now=now, record=refusal not in reasons
        )
    settings = pool_settings(pool)
    try:
        outcome = await _with_pool(
            db,
            store,
            pool=pool,
            now=now,
            step=lambda: store.ping(
                str(pool.id),
                session_id=str(session_id),
                visitor_id=_str(visitor_id),
                settings=settings,
                now=now,
                client=client,
                limits=limits,
            ),
        )
    except StoreUnavailable:
        return await _from_log(db, pool=pool, visit=visit, now=now)
    assert not isinstance(outcome, NeedsRebuild)
    await _close(db, outcome.closed)
    if isinstance(outcome, Lease):
        logged = await _log_lease(
            db,
            pool_id=pool.id,
            cooldown_s=pool.cooldown_s,
            session_id=visit.session_id,
            visitor_id=visit.visitor_id,
            lease=outcome,
        )
        if logged:
            return await _dynamic(db, outcome, visit.known)
        await _invalidate(store, pool)
        return await _lease(db, store, pool=pool, visit=visit, now=now)
    reasons = await repository.fallback_reasons(db, pool_id=pool.id, session_id=session_id)
    if isinstance(outcome, Exhausted):
        # Its lease reached max_lease and no other number is free.
        record = "exhausted" not in reasons
        return await _fallback(
            db, pool=pool, visit=visit, reason="exhausted", now=now, record=record
        )
    if isinstance(outcome, Refused):
        record = outcome.reason not in reasons
        return await _fallback(
            db, pool=pool, visit=visit, reason=outcome.reason, now=now, record=record
        )
    kept = _STICKY_REASONS.intersection(reasons)
    if kept:
        return await _fallback(
            db, pool=pool, visit=visit, reason=_first(kept), now=now, record=False
        )
    return await _lease(db, store, pool=pool, visit=visit, now=now)


async def release_session(
    db: AsyncSession, store: PoolStore, *, pool: PoolLike, session_id: uuid.UUID, now: datetime
) -> None:
    """End the session's lease now (the visitor left); the number rests for the cooldown."""
    settings = pool_settings(pool)
    try:
        outcome = await _with_pool(
            db,
            store,
            pool=pool,
            now=now,
            step=lambda: store.release(
                str(pool.id), session_id=str(session_id), settings=settings, now=now
            ),
        )
    except StoreUnavailable:
        return  # the lease idles out instead
    assert not isinstance(outcome, NeedsRebuild)
    await _close(db, outcome.closed)


async def close_expired(
    db: AsyncSession, store: PoolStore, *, pool: PoolLike, now: datetime
) -> int:
    """Write the end of every lease that expired by `now`; returns how many.

    Leases are closed in the log by whichever step notices them first; a quiet pool can call
    this (a periodic job, /metrics) so that its log is closed without waiting for traffic.
    """
    settings = pool_settings(pool)
    outcome = await _with_pool(
        db,
        store,
        pool=pool,
        now=now,
        step=lambda: store.sweep(str(pool.id), settings=settings, now=now),
    )
    assert not isinstance(outcome, NeedsRebuild)
    await _close(db, outcome.closed)
    return len(outcome.closed)


@dataclass(frozen=True, slots=True)
class Holding:
    """A lease from the log with what a call's attribution reads next: its pool's timings and
    the session that held the number. Loaded by one query; the ORM's identity map holds its
    objects only weakly, so looking them up again by id afterwards cost two more round trips
    per webhook."""

    lease: NumberAssignment
    pool: Pool
    session: TrackingSession | None


async def who_held(
    db: AsyncSession, *, tracking_number_id: uuid.UUID, at: datetime
) -> Holding | None:
    """The lease a call to this number at `at` belongs to: the one whose [start, end + cooldown]
    covers `at`; the latest if several do (a visitor given their number back)."""
    found = await repository.held_at(db, tracking_number_id=tracking_number_id, at=at)
    if found is None:
        return None
    row, pool, session = found
    # An open row has not been closed yet; it cannot have outlived max_lease.
    end = row.ended_at or row.started_at + timedelta(seconds=pool.max_lease_s)
    return Holding(row, pool, session) if at <= end + timedelta(seconds=pool.cooldown_s) else None


async def last_holding(
    db: AsyncSession, *, tracking_number_id: uuid.UUID, at: datetime
) -> Holding | None:
    """The number's latest lease that started at or before `at`, however long ago it ended:
    a late call (after the lease and its cooldown) may still be its holder's."""
    found = await repository.held_at(db, tracking_number_id=tracking_number_id, at=at)
    return None if found is None else Holding(*found)


# How many earlier leases of one number a late call looks through for other holders.
EARLIER_HOLDERS_LIMIT = 20


async def holdings_between(
    db: AsyncSession, *, tracking_number_id: uuid.UUID, since: datetime, until: datetime
) -> list[Holding]:
    """The number's leases that started in [since, until], newest first."""
    rows = await repository.held_between(
        db,
        tracking_number_id=tracking_number_id,
        since=since,
        until=until,
        limit=EARLIER_HOLDERS_LIMIT,
    )
    return [Holding(*row) for row in rows]


async def rebuild_pool(
    db: AsyncSession, store: PoolStore, *, pool: PoolLike, now: datetime
) -> bool:
    """Load the pool into the store from the log; False if another caller is already at it
    or has loaded it since (a loaded pool is never overwritten: see the stores' restore)."""
    key = str(pool.id)
    token = await store.begin_rebuild(key)
    if token is None:
        return False
    try:
        numbers = await repository.pool_number_ids(db, pool_id=pool.id)
        latest = await repository.latest_assignments(db, tracking_number_ids=numbers)
        settings = pool_settings(pool)
        records = [
            restore_record(str(number), _logged(latest.get(number)), settings=settings, now=now)
            for number in numbers
        ]
        restored = await store.restore(key, records, token=token)
        if restored:
            # An open row restored as over (it ran out its max_lease meanwhile) is closed now:
            # no later step will report it.
            for number, record in zip(numbers, records, strict=True):
                row = latest.get(number)
                if row is not None and row.ended_at is None and record.state != "leased":
                    assert record.until is not None
                    await repository.close_assignment(
                        db,
                        tracking_number_id=number,
                        generation=row.generation,
                        ended_at=record.until,
                    )
    except Exception:
        with contextlib.suppress(StoreUnavailable):  # if so, the lock expires by itself
            await store.abandon_rebuild(key, token=token)
        raise
    if restored:
        log.info("pool %s rebuilt from the log: %d numbers", key, len(records))
    return restored


async def refresh_pool(
    db: AsyncSession, store: PoolStore, *, pool: PoolLike, now: datetime
) -> bool:
    """Reload the pool after its numbers changed (call after the change is committed)."""
    await store.invalidate(str(pool.id))
    return await rebuild_pool(db, store, pool=pool, now=now)


async def pool_health(
    db: AsyncSession, store: PoolStore, *, pool: Pool, now: datetime, hours: float = 24
) -> PoolHealth:
    """Size, use now and at peak, sessions and fallbacks over the last `hours`, and the size
    the busiest quarter hour of that traffic calls for (and the busiest hour's mean). Sessions
    refused by the anti-draining rules are counted by reason and apart: a flood must not make
    the pool look too small."""
    settings = pool_settings(pool)
    cooldown = timedelta(seconds=pool.cooldown_s)
    max_lease = timedelta(seconds=pool.max_lease_s)
    size = len(await repository.pool_number_ids(db, pool_id=pool.id))
    stats: PoolStats | None = None
    try:
        await close_expired(db, store, pool=pool, now=now)
        found = await store.stats(str(pool.id), settings=settings, now=now)
        stats = found if isinstance(found, PoolStats) else None
    except StoreUnavailable:
        pass  # the log answers alone
    start = now - timedelta(hours=hours)
    window = await repository.log_window(db, pool=pool, start=start, end=now)
    spans = health.occupied(window.leases, cooldown=cooldown, max_lease=max_lease, now=now)
    in_use = stats.in_use if stats is not None else health.in_use_at(spans, now)
    sessions = len(window.sessions)
    fallback_sessions = len(window.fallback_sessions)
    refused: dict[str, int] = {r: len(window.refused.get(r, ())) for r in REFUSAL_REASONS}
    holding_s = health.mean_holding_s(
        window.leases,
        idle_timeout=timedelta(seconds=pool.idle_timeout_s),
        cooldown=cooldown,
        max_lease=max_lease,
        start=start,
        now=now,
    )
    peak_15min = health.busiest_window(window.sessions.values(), health.PEAK_WINDOW)
    busiest_hour = health.busiest_hour(window.sessions.values())
    return PoolHealth(
        size=size,
        in_use=in_use,
        peak_in_use=max(in_use, health.peak_in_use(spans, start=start, end=now)),
        sessions=sessions,
        fallback_sessions=fallback_sessions,
        fallback_share=fallback_sessions / sessions if sessions else 0.0,
        refused_sessions=refused,
        recommended_size=health.recommended_size_for_peak(
            peak_15min_sessions=peak_15min, holding_s=holding_s
        ),
        peak_15min_sessions=peak_15min,
        busiest_hour_sessions=busiest_hour,
        recommended_size_hourly_mean=health.recommended_size(
            busiest_hour_sessions=busiest_hour, holding_s=holding_s
        ),
    )


# --- internals -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeasePlan:
    """What the store decided for a session's lease, before the log records it.

    `write_plan` records it in the session's transaction; a caller that batches its own writes
    (the tracker's new visits) may record the same rows itself, as long as a lease that turns
    out to be fenced goes through `lease_again`.
    """

    served: ServedNumber
    closed: tuple[Closed, ...]  # leases the store ended in this step: close their rows
    lease: Lease | None  # a new generation to insert (fenced on (number, generation))
    fallback: FallbackReason | None  # a fallback to count
    pool_id: uuid.UUID
    cooldown_s: int


async def plan_lease(
    db: AsyncSession, store: PoolStore, *, pool: PoolLike, visit: PoolVisit, now: datetime
) -> LeasePlan:
    """The number a session starting now is shown, and the log rows that says so; nothing is
    written (the database is only read if the store must be rebuilt or `known` is missing)."""
    return await _plan(db, store, pool=pool, visit=visit, now=now)


async def write_plan(
    db: AsyncSession,
    plan: LeasePlan,
    *,
    session_id: uuid.UUID,
    visitor_id: uuid.UUID | None,
    now: datetime,
) -> bool:
    """Record a plan in the log; False if its new lease was fenced (nothing else is written)."""
    await _close(db, plan.closed)
    if plan.fallback is not None:
        await _record_fallback(
            db,
            pool_id=plan.pool_id,
            session_id=session_id,
            served=plan.served,
            reason=plan.fallback,
            now=now,
        )
    if plan.lease is None:
        return True
    return await _log_lease(
        db,
        pool_id=plan.pool_id,
        cooldown_s=plan.cooldown_s,
        session_id=session_id,
        visitor_id=visitor_id,
        lease=plan.lease,
    )


async def lease_again(
    db: AsyncSession, store: PoolStore, *, pool: PoolLike, visit: PoolVisit, now: datetime
) -> ServedNumber:
    """After a fenced lease: reload the pool from the log and lease once more (written)."""
    await _invalidate(store, pool)
    return await _lease(db, store, pool=pool, visit=visit, now=now, attempts=1)


async def _lease(
    db: AsyncSession,
    store: PoolStore,
    *,
    pool: PoolLike,
    visit: PoolVisit,
    now: datetime,
    attempts: int = 2,
) -> ServedNumber:
    # A second attempt follows a fencing conflict, after which the pool was invalidated.
    for _attempt in range(attempts):
        plan = await _plan(db, store, pool=pool, visit=visit, now=now)
        if await write_plan(
            db, plan, session_id=visit.session_id, visitor_id=visit.visitor_id, now=now
        ):
            return plan.served
        await _invalidate(store, pool)
    return await _fallback(db, pool=pool, visit=visit, reason="store_unavailable", now=now)


async def _plan(
    db: AsyncSession, store: PoolStore, *, pool: PoolLike, visit: PoolVisit, now: datetime
) -> LeasePlan:
    if visit.refusal is not None:
        served = await _fallback_number(db, pool=pool, visit=visit)
        return LeasePlan(served, (), None, visit.refusal, pool.id, pool.cooldown_s)
    settings = pool_settings(pool)
    try:
        outcome = await _with_pool(
            db,
            store,
            pool=pool,
            now=now,
            step=lambda: store.lease(
                str(pool.id),
                session_id=str(visit.session_id),
                visitor_id=_str(visit.visitor_id),
                settings=settings,
                now=now,
                client=visit.client,
                limits=visit.limits,
            ),
        )
    except StoreUnavailable:
        served = await _fallback_number(db, pool=pool, visit=visit)
        return LeasePlan(served, (), None, "store_unavailable", pool.id, pool.cooldown_s)
    assert not isinstance(outcome, NeedsRebuild)
    if isinstance(outcome, Exhausted):
        served = await _fallback_number(db, pool=pool, visit=visit)
        return LeasePlan(served, outcome.closed, None, "exhausted", pool.id, pool.cooldown_s)
    if isinstance(outcome, Refused):
        served = await _fallback_number(db, pool=pool, visit=visit)
        return LeasePlan(served, outcome.closed, None, outcome.reason, pool.id, pool.cooldown_s)
    served = await _dynamic(db, outcome, visit.known)
    lease = outcome if outcome.is_new else None
    return LeasePlan(served, outcome.closed, lease, None, pool.id, pool.cooldown_s)


async def _with_pool(
    db: AsyncSession,
    store: PoolStore,
    *,
    pool: PoolLike,
    now: datetime,
    step: Callable[[], Awaitable[_Outcome]],
) -> _Outcome:
    """Run a store step; if the store has lost the pool, rebuild it from the log first.

    Never returns NeedsRebuild (callers assert it away for the type checker).
    """
    outcome = await step()
    if not isinstance(outcome, NeedsRebuild):
        return outcome
    # Rebuilt by this caller, or (False) by another one meanwhile or still in progress there.
    rebuilt = await rebuild_pool(db, store, pool=pool, now=now)
    outcome = await step()
    if isinstance(outcome, NeedsRebuild):
        if rebuilt:
            raise StoreUnavailable(f"pool {pool.id} was lost again right after its rebuild")
        raise StoreUnavailable(f"pool {pool.id} is being rebuilt by another process")
    return outcome


async def _log_lease(
    db: AsyncSession,
    *,
    pool_id: uuid.UUID,
    cooldown_s: int,
    session_id: uuid.UUID,
    visitor_id: uuid.UUID | None,
    lease: Lease,
) -> bool:
    """Write a new lease to the log; False if its generation is already there (fenced)."""
    if not lease.is_new:
        return True
    number = uuid.UUID(lease.number)
    inserted = await repository.insert_assignment(
        db,
        pool_id=pool_id,
        tracking_number_id=number,
        session_id=session_id,
        visitor_id=visitor_id,
        generation=lease.generation,
        started_at=lease.started_at,
    )
    if not inserted:
        log_fenced(pool_id, lease)
        return False
    # Nobody else could take the number before the previous holder's cooldown ran out.
    await repository.close_forgotten(
        db,
        tracking_number_id=number,
        generation=lease.generation,
        ended_at=forgotten_end(lease, cooldown_s),
    )
    return True


def forgotten_end(lease: Lease, cooldown_s: int) -> datetime:
    """When older open rows of a re-leased number ended at the latest: nobody else could take
    it before the previous holder's cooldown ran out."""
    return lease.started_at - timedelta(seconds=cooldown_s)


def log_fenced(pool_id: uuid.UUID, lease: Lease) -> None:
    log.warning(
        "pool %s: generation %d of %s is already logged", pool_id, lease.generation, lease.number
    )


async def _invalidate(store: PoolStore, pool: PoolLike) -> None:
    with contextlib.suppress(StoreUnavailable):  # if so, the next step finds it down anyway
        await store.invalidate(str(pool.id))


async def _close(db: AsyncSession, closed: tuple[Closed, ...]) -> None:
    for lease in closed:
        await repository.close_assignment(
            db,
            tracking_number_id=uuid.UUID(lease.number),
            generation=lease.generation,
            ended_at=lease.ended_at,
        )


async def _dynamic(db: AsyncSession, lease: Lease, known: KnownNumbers | None) -> ServedNumber:
    number_id = uuid.UUID(lease.number)
    number = known.dynamic.get(number_id) if known is not None else None
    if number is None:  # no snapshot, or the pool changed since it was taken
        number = await repository.number_e164(db, tracking_number_id=number_id)
    return ServedNumber(number=number, kind="dynamic", tracking_number_id=number_id)


async def _fallback(
    db: AsyncSession,
    *,
    pool: PoolLike,
    visit: PoolVisit,
    reason: FallbackReason,
    now: datetime,
    record: bool = True,
) -> ServedNumber:
    """The source-level static number for the visit's source, else the target; counted."""
    served = await _fallback_number(db, pool=pool, visit=visit)
    if record:
        await _record_fallback(
            db,
            pool_id=pool.id,
            session_id=visit.session_id,
            served=served,
            reason=reason,
            now=now,
        )
    return served


async def _record_fallback(
    db: AsyncSession,
    *,
    pool_id: uuid.UUID,
    session_id: uuid.UUID,
    served: ServedNumber,
    reason: FallbackReason,
    now: datetime,
) -> None:
    """Count a session the pool could not serve (pool health reads these)."""
    await repository.insert_fallback(
        db,
        pool_id=pool_id,
        session_id=session_id,
        tracking_number_id=served.tracking_number_id,
        kind=served.kind,
        reason=reason,
        served_at=now,
    )


async def _fallback_number(db: AsyncSession, *, pool: PoolLike, visit: PoolVisit) -> ServedNumber:
    """The source-level static number for the visit's source, else the target."""
    known = visit.known
    rules: Sequence[SourceRule]
    if known is None:
        rules = await repository.source_rules(
            db, site_id=pool.site_id, target_number_id=pool.target_number_id
        )
        target = None
    else:
        rules, target = known.rules, known.target
    rule = pick_source_number(
        rules,
        target_id=pool.target_number_id,
        source=visit.source,
        medium=visit.medium,
        campaign=visit.campaign,
    )
    if rule is not None:
        return ServedNumber(number=rule.number, kind="source", tracking_number_id=rule.id)
    if target is None:
        target = await repository.target_e164(db, target_number_id=pool.target_number_id)
    return ServedNumber(number=target, kind="target", tracking_number_id=None)


async def _from_log(
    db: AsyncSession, *, pool: PoolLike, visit: PoolVisit, now: datetime
) -> ServedNumber:
    """A ping while the store is down: the number the log says the session holds, if any."""
    row = await repository.open_assignment(db, pool_id=pool.id, session_id=visit.session_id)
    if row is not None and now < row.started_at + timedelta(seconds=pool.max_lease_s):
        number = await repository.number_e164(db, tracking_number_id=row.tracking_number_id)
        return ServedNumber(
            number=number, kind="dynamic", tracking_number_id=row.tracking_number_id
        )
    reasons = await repository.fallback_reasons(db, pool_id=pool.id, session_id=visit.session_id)
    return await _fallback(
        db, pool=pool, visit=visit, reason="store_unavailable", now=now, record=not reasons
    )


def _logged(row: NumberAssignment | None) -> LoggedLease | None:
    if row is None:
        return None
    return LoggedLease(
        generation=row.generation,
        session_id=str(row.session_id),
        visitor_id=_str(row.visitor_id),
        started_at=row.started_at,
        ended_at=row.ended_at,
    )


def _first(reasons: Collection[str]) -> FallbackReason:
    return next(r for r in ("exhausted", *REFUSAL_REASONS) if r in reasons)


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)
