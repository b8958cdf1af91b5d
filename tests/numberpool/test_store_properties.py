"""Random sequences of steps against both stores and the reference model.

Each store must answer every step exactly as the model does, and the log the answers make must
never show a number held by two visitors within a lease and its cooldown.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numberpool.rules import (
    LoggedLease,
    NumberRecord,
    PoolSettings,
    from_ms,
    restore_record,
    to_ms,
)
from numberpool.store import Closed, Lease, NeedsRebuild, PoolStats, PoolStore, Swept
from tests.backends import require_redis
from tests.numberpool.conftest import STORES, T0, ids, new_store
from tests.numberpool.model import ModelPool

RULES = PoolSettings(idle_timeout_s=30, cooldown_s=60, max_lease_s=100)
NUMBERS = ids(3, base=0x100)
SESSIONS = ids(6, base=0x200)
VISITORS = ids(3, base=0x300)

# Steps: ("lease"|"ping"|"release"|"hold", session), ("wait", ms),
# ("sweep"|"stats"|"rebuild"|"to_expiry"|"to_free", 0). Waits are drawn around the rules' edges,
# and to_expiry / to_free jump to the exact next expiry or end of a rest, where off-by-one
# mistakes live; "hold" pings one session every 20 s for two minutes, past max_lease.
EDGES_MS = [0, 1, 999, 10_000, 29_999, 30_000, 30_001, 59_999, 60_000, 60_001, 90_000, 100_000]
session_step = st.tuples(
    st.sampled_from(["lease", "lease", "ping", "ping", "ping", "release", "hold"]),
    st.integers(0, 5),
)
wait_step = st.tuples(st.just("wait"), st.sampled_from(EDGES_MS) | st.integers(0, 120_000))
other_step = st.tuples(
    st.sampled_from(["sweep", "stats", "rebuild", "to_expiry", "to_free", "to_free"]), st.just(0)
)
steps = st.lists(
    st.one_of(session_step, session_step, session_step, wait_step, wait_step, other_step),
    min_size=10,
    max_size=60,
)
owners = st.lists(st.sampled_from([None, 0, 1, 2]), min_size=6, max_size=6)


@dataclass
class Row:
    """One lease in the log the answers make: what the service would write."""

    session: str
    visitor: str | None
    started: datetime
    ended: datetime | None = None


class Log:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], Row] = {}

    def close(self, closed: tuple[Closed, ...]) -> None:
        for lease in closed:
            row = self.rows[lease.number, lease.generation]
            if row.ended is None:
                row.ended = lease.ended_at

    def record(self, lease: Lease, session: str, visitor: str | None) -> None:
        self.close(lease.closed)
        key = (lease.number, lease.generation)
        if lease.is_new:
            assert key not in self.rows, f"generation {key} handed out twice"
            previous = self.rows.get((lease.number, lease.generation - 1))
            assert lease.generation == 1 or previous is not None, "a generation was skipped"
            if previous is not None:
                # The previous holder's lease is over; another visitor also waits out the cooldown.
                assert previous.ended is not None, f"{key} starts while its predecessor is open"
                same = previous.session == session or (
                    previous.visitor is not None and previous.visitor == visitor
                )
                rest = timedelta(0) if same else timedelta(seconds=RULES.cooldown_s)
                assert lease.started_at >= previous.ended + rest, f"{key} overlaps its predecessor"
            self.rows[key] = Row(session, visitor, lease.started_at)
        row = self.rows[key]
        # Every number shown is in the log, held by this session or its visitor.
        assert row.session == session or (visitor is not None and row.visitor == visitor)
        assert row.ended is None

    def close_restored(self, records: list[NumberRecord]) -> None:
        """An open row restored as over (it must have hit max_lease) is closed, as the service
        does when it rebuilds."""
        for record in records:
            latest = self.latest(record.number)
            if latest is not None and latest.ended_at is None and record.state != "leased":
                assert record.until is not None
                self.rows[record.number, latest.generation].ended = record.until

    def latest(self, number: str) -> LoggedLease | None:
        generations = [g for n, g in self.rows if n == number]
        if not generations:
            return None
        row = self.rows[number, max(generations)]
        return LoggedLease(max(generations), row.session, row.visitor, row.started, row.ended)


def next_moment(model: ModelPool, op: str, now: datetime, wait_ms: int) -> datetime:
    if op == "wait":
        return now + timedelta(milliseconds=wait_ms)
    numbers = model.numbers.values()
    if op == "to_expiry":
        moments = [n.expires for n in numbers if n.expires is not None]
    else:
        # When a rest ends, counting leases that have expired or will if nobody pings them.
        rest = RULES.cooldown_ms
        moments = [(n.ended if n.expires is None else n.expires) + rest for n in numbers]
    later = [m for m in moments if m > to_ms(now)]
    return from_ms(min(later)) if later else now


async def run_steps(
    store: PoolStore, pool_id: str, plan: list[tuple[str, int]], owner: list[int | None]
) -> None:
    model = ModelPool.fresh(NUMBERS, RULES)
    token = await store.begin_rebuild(pool_id)
    assert token is not None
    fresh = [restore_record(n, None, settings=RULES, now=T0) for n in NUMBERS]
    assert await store.restore(pool_id, fresh, token=token)
    log, now = Log(), T0
    expanded: list[tuple[str, int]] = []
    for op, arg in plan:
        hold = [("wait", 20_000), ("ping", arg)] * 6
        expanded += hold if op == "hold" else [(op, arg)]
    for op, arg in expanded:
        if op in ("wait", "to_expiry", "to_free"):
            now = next_moment(model, op, now, arg)
            continue
        if op in ("lease", "ping"):
            session = SESSIONS[arg]
            visitor_index = owner[arg]
            visitor = None if visitor_index is None else VISITORS[visitor_index]
            call = store.lease if op == "lease" else store.ping
            got = await call(
                pool_id, session_id=session, visitor_id=visitor, settings=RULES, now=now
            )
            assert got == model.serve(session, visitor, now, ping=op == "ping"), (op, arg)
            assert not isinstance(got, NeedsRebuild)
            if isinstance(got, Lease):
                log.record(got, session, visitor)
            else:
                log.close(got.closed)
        elif op == "release":
            swept = await store.release(pool_id, session_id=SESSIONS[arg], settings=RULES, now=now)
            assert swept == model.release(SESSIONS[arg], now)
            assert isinstance(swept, Swept)
            log.close(swept.closed)
        elif op == "sweep":
            swept = await store.sweep(pool_id, settings=RULES, now=now)
            assert swept == model.sweep(now)
            assert isinstance(swept, Swept)
            log.close(swept.closed)
        elif op == "stats":
            stats = await store.stats(pool_id, settings=RULES, now=now)
            assert stats == model.stats(now)
            assert isinstance(stats, PoolStats)
            assert stats.in_use <= stats.size
        else:  # the store lost the pool: rebuild both from the log, as the service does
            records = [restore_record(n, log.latest(n), settings=RULES, now=now) for n in NUMBERS]
            log.close_restored(records)
            await store.invalidate(pool_id)
            token = await store.begin_rebuild(pool_id)
            assert token is not None
            assert await store.restore(pool_id, records, token=token)
            model = ModelPool.restored(records, RULES)


@pytest.mark.parametrize("kind", STORES)
@settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(plan=steps, owner=owners)
def test_stores_follow_the_model(
    kind: str, plan: list[tuple[str, int]], owner: list[int | None]
) -> None:
    if kind == "redis":
        require_redis()

    async def scenario() -> None:
        store = new_store(kind)
        pool_id = ids(1, base=0x999)[0]
        try:
            await store.drop(pool_id)
            await run_steps(store, pool_id, plan, owner)
        finally:
            await store.drop(pool_id)
            await store.close()

    asyncio.run(scenario())
