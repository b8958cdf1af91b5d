"""Random sequences against the whole service (database log, store, fallbacks) and a model.

Steps: a visit starts, pings, leaves; time passes; the store loses the pool; and who_held is
asked about any number at any moment so far. The service must show what the model shows, its
log must answer who_held as the model's does, and it must never show two holders.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

import app.models
from app.db import create_engine, create_sessionmaker
from app.models import TrackingSession, Visitor
from numberpool import service
from numberpool.embedded_store import EmbeddedStore
from numberpool.redis_store import RedisStore
from numberpool.rules import LoggedLease, PoolSettings, restore_record
from numberpool.service import ServedNumber
from numberpool.store import Closed, Exhausted, Lease, NotHeld, PoolStore
from tests.backends import TEST_REDIS_URL, require_redis
from tests.numberpool.conftest import T0, PoolSetup, create_pool
from tests.numberpool.logcheck import assert_no_overlap
from tests.numberpool.model import ModelPool

IDLE_S, COOLDOWN_S, MAX_S = 30, 60, 100
RULES = PoolSettings(idle_timeout_s=IDLE_S, cooldown_s=COOLDOWN_S, max_lease_s=MAX_S)
VISITS = 5
MS = timedelta(milliseconds=1)
COOLDOWN = timedelta(seconds=COOLDOWN_S)

steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["start", "ping", "ping", "leave"]), st.integers(0, VISITS - 1)),
        st.tuples(st.just("wait"), st.sampled_from([1, 10, 29, 30, 31, 59, 60, 61, 90, 100])),
        st.tuples(st.sampled_from(["who_held", "lose_store"]), st.integers(0, 200)),
    ),
    min_size=15,
    max_size=50,
)
# Per visit: its visitor (shared ids make second tabs and returning visitors) and its medium.
visits = st.lists(
    st.tuples(st.sampled_from([None, 0, 1, 2]), st.sampled_from(["organic", "cpc"])),
    min_size=VISITS,
    max_size=VISITS,
)


@dataclass
class Row:
    session: str
    visitor: str | None
    started: datetime
    ended: datetime | None = None


@dataclass
class ServiceModel:
    """The service's rules on top of the store model: the log, fallbacks, rebuilds."""

    store: ModelPool
    numbers: list[str]
    log: dict[tuple[str, int], Row] = field(default_factory=dict)
    exhausted: set[str] = field(default_factory=set)  # sessions that found the pool full
    lost: bool = False

    def _rebuilt(self, now: datetime) -> None:
        if not self.lost:
            return
        records = [
            restore_record(n, self._latest(n), settings=RULES, now=now) for n in self.numbers
        ]
        for record in records:
            latest = self._latest(record.number)
            if latest is not None and latest.ended_at is None and record.state != "leased":
                self.log[record.number, latest.generation].ended = record.until
        self.store, self.lost = ModelPool.restored(records, RULES), False

    def _latest(self, number: str) -> LoggedLease | None:
        generations = [g for n, g in self.log if n == number]
        if not generations:
            return None
        row = self.log[number, max(generations)]
        return LoggedLease(max(generations), row.session, row.visitor, row.started, row.ended)

    def _close(self, closed: tuple[Closed, ...]) -> None:
        for lease in closed:
            row = self.log[lease.number, lease.generation]
            if row.ended is None:
                row.ended = lease.ended_at

    def _apply(self, lease: Lease, session: str, visitor: str | None) -> tuple[str, str | None]:
        self._close(lease.closed)
        if lease.is_new:
            self.log[lease.number, lease.generation] = Row(session, visitor, lease.started_at)
        return ("dynamic", lease.number)

    def start(self, session: str, visitor: str | None, now: datetime) -> tuple[str, str | None]:
        self._rebuilt(now)
        outcome = self.store.serve(session, visitor, now, ping=False)
        if isinstance(outcome, Lease):
            return self._apply(outcome, session, visitor)
        self._close(outcome.closed)
        self.exhausted.add(session)
        return ("fallback", None)

    def ping(self, session: str, visitor: str | None, now: datetime) -> tuple[str, str | None]:
        self._rebuilt(now)
        outcome = self.store.serve(session, visitor, now, ping=True)
        if isinstance(outcome, Lease):
            return self._apply(outcome, session, visitor)
        self._close(outcome.closed)
        if isinstance(outcome, Exhausted):
            self.exhausted.add(session)
            return ("fallback", None)
        assert isinstance(outcome, NotHeld)
        if session in self.exhausted:
            return ("fallback", None)
        return self.start(session, visitor, now)

    def leave(self, session: str, now: datetime) -> None:
        self._rebuilt(now)
        self._close(self.store.release(session, now).closed)

    def edges(self, number: str, also: datetime) -> set[datetime]:
        """Moments where the answer for `number` changes, and a millisecond either side."""
        edges = {also}
        for (n, _g), row in self.log.items():
            if n != number:
                continue
            end = (row.ended or row.started + timedelta(seconds=MAX_S)) + COOLDOWN
            for moment in (row.started, end):
                edges |= {moment - MS, moment, moment + MS}
        return edges

    def who_held(self, number: str, at: datetime) -> str | None:
        rows = [(row.started, g, row) for (n, g), row in self.log.items() if n == number]
        rows = [r for r in rows if r[0] <= at]
        if not rows:
            return None
        _started, _g, row = max(rows, key=lambda r: (r[0], r[1]))
        end = row.ended or row.started + timedelta(seconds=MAX_S)
        return row.session if at <= end + timedelta(seconds=COOLDOWN_S) else None


def kind_of(served: ServedNumber, medium: str) -> tuple[str, str | None]:
    if served.kind == "dynamic":
        return ("dynamic", str(served.tracking_number_id))
    assert served.kind == ("source" if medium == "cpc" else "target"), (served, medium)
    return ("fallback", None)


async def run(
    database_url: str, kind: str, plan: list[tuple[str, int]], owners: list[tuple[int | None, str]]
) -> None:
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    stores: list[PoolStore] = [
        RedisStore(TEST_REDIS_URL, timeout_s=2.0) if kind == "redis" else EmbeddedStore()
    ]
    try:
        async with sessionmaker() as db:
            setup = await create_pool(
                db,
                numbers=2,
                idle_timeout_s=IDLE_S,
                cooldown_s=COOLDOWN_S,
                max_lease_s=MAX_S,
                source_rules=[("google", "cpc", None)],
            )
            sessions = await create_visits(db, setup, owners)
            await db.commit()
        numbers = [str(n.id) for n in setup.numbers]
        model = ServiceModel(ModelPool.fresh(numbers, RULES), numbers)
        now = T0
        for op, arg in plan:
            if op == "wait":
                now += timedelta(seconds=arg)
                continue
            async with sessionmaker() as db:
                if op == "lose_store":
                    if isinstance(stores[0], RedisStore):
                        await stores[0].drop(str(setup.pool.id))
                    else:
                        stores[0] = EmbeddedStore()
                    model.lost = True
                elif op == "who_held":
                    number = numbers[arg % 2]
                    for at in model.edges(number, now - timedelta(seconds=arg % 150)):
                        held = await service.who_held(
                            db, tracking_number_id=uuid.UUID(number), at=at
                        )
                        held_by = None if held is None else str(held.lease.session_id)
                        assert held_by == model.who_held(number, at), (number, at)
                elif op == "leave":
                    visit = sessions[arg]
                    await service.release_session(
                        db, stores[0], pool=setup.pool, session_id=visit.id, now=now
                    )
                    model.leave(str(visit.id), now)
                else:
                    visit, medium = sessions[arg], owners[arg][1]
                    call = service.lease_for_session if op == "start" else service.ping_session
                    served = await call(
                        db,
                        stores[0],
                        pool=setup.pool,
                        session_id=visit.id,
                        visitor_id=visit.visitor_id,
                        source="google",
                        medium=medium,
                        campaign=None,
                        now=now,
                    )
                    visitor = None if visit.visitor_id is None else str(visit.visitor_id)
                    step = model.start if op == "start" else model.ping
                    expected = step(str(visit.id), visitor, now)
                    assert kind_of(served, medium) == expected, (op, arg, now)
                    if served.kind == "dynamic":
                        assert served.tracking_number_id is not None
                        held = await service.who_held(
                            db, tracking_number_id=served.tracking_number_id, at=now
                        )
                        assert held is not None  # every number shown is in the log, as theirs
                        lease = held.lease
                        assert lease.session_id == visit.id or lease.visitor_id == visit.visitor_id
                await db.commit()
        async with sessionmaker() as db:
            await assert_no_overlap(db, setup.pool)
    finally:
        if isinstance(stores[0], RedisStore):
            await stores[0].drop(str(setup.pool.id))
        await stores[0].close()
        await engine.dispose()


async def create_visits(
    db: AsyncSession, setup: PoolSetup, owners: list[tuple[int | None, str]]
) -> list[TrackingSession]:
    visitors = [
        Visitor(id=uuid.uuid4(), site_id=setup.site.id, created_at=T0, last_seen_at=T0)
        for _ in range(3)
    ]
    db.add_all(visitors)
    await db.flush()
    sessions = [
        TrackingSession(
            id=uuid.uuid4(),
            site_id=setup.site.id,
            visitor_id=None if owner is None else visitors[owner].id,
            started_at=T0,
            last_seen_at=T0,
            landing_url="https://shop.example/",
            source="google",
            medium=medium,
            consent=True,
        )
        for owner, medium in owners
    ]
    db.add_all(sessions)
    await db.flush()
    return sessions


@pytest.fixture
def clean_database_url(database_url: str) -> Iterator[str]:
    """The test database, emptied afterwards (as the `engine` fixture does for async tests)."""
    yield database_url
    if database_url.startswith("postgresql"):

        async def truncate() -> None:
            engine = create_engine(database_url)
            tables = ", ".join(f'"{t.name}"' for t in app.models.Base.metadata.sorted_tables)
            async with engine.begin() as connection:
                await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
            await engine.dispose()

        asyncio.run(truncate())


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(plan=steps, owners=visits)
def test_the_service_follows_the_model(
    clean_database_url: str, plan: list[tuple[str, int]], owners: list[tuple[int | None, str]]
) -> None:
    # SQLite with the embedded store (the default install), PostgreSQL with Redis (production).
    kind = "embedded" if clean_database_url.startswith("sqlite") else "redis"
    if kind == "redis":
        require_redis()
    asyncio.run(run(clean_database_url, kind, plan, owners))
