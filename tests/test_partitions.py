"""Monthly partitions of calls and visits on PostgreSQL (app/partitions.py and the migration
d5b8e1f4a923): rows land in their month, the worker creates the coming months and moves rows
out of the default partition, old months detach as plain tables, the migration carries the
existing rows both ways, and the call path still meets every event of one call on one row.

Each test has a database of its own: detaching months would take them from every other test."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import migrations, partitions
from app.calls import repository as calls_repository
from app.db import create_engine
from app.models import Call, CallKey, TrackingSession
from tests.backends import require_postgres
from tests.calls.test_attribution import World, visit_and_call
from tests.cli_processes import CLI, cli_env
from tests.clock import ManualClock
from tests.postgres_databases import fresh_postgres_database

pytestmark = pytest.mark.only_on("postgresql")


@pytest.fixture
def database_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own (the migration creates the months
    around today's real date, 2026-12 on: the tests' clock runs later than that)."""
    require_postgres()
    with fresh_postgres_database("callsource_partitions") as url:
        migrations.upgrade(url)
        yield url


async def _rows_in(db: AsyncSession, table: str) -> int:
    # A partition's own rows; fixed names from the tests.
    return int((await db.execute(text(f"SELECT count(*) FROM ONLY {table}"))).scalar_one())  # noqa: S608


async def _months(db: AsyncSession) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for partition in await partitions.list_partitions(await db.connection()):
        label = f"{partition.month:%Y-%m}" if partition.month else "default"
        found.setdefault(partition.table, []).append(label)
    return found


async def test_rows_of_a_missing_month_move_to_it_when_the_worker_creates_it(
    anonymous: httpx.AsyncClient,
    client: httpx.AsyncClient,
    clock: ManualClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    world = await World(anonymous, client, clock).build()
    # Four months after the last one the migration created: as if the worker had been
    # stopped since. The visit and its call go to the default partitions.
    late = datetime(2027, 6, 10, 9, 0, tzinfo=UTC)
    session_id = await visit_and_call(world, late, "june-call")
    async with sessionmaker() as db:
        assert await _rows_in(db, "calls_default") == 1
        assert await _rows_in(db, "tracking_sessions_default") == 1

    created = await partitions.keep_partitions(sessionmaker, None, late, asyncio.sleep)  # type: ignore[arg-type]

    assert created == 2 * 6  # 2027-03 to 2027-08, both tables
    async with sessionmaker() as db:
        months = await _months(db)
        expected = [f"{m:%Y-%m}" for m in _month_range(date(2026, 12, 1), date(2027, 8, 1))]
        assert months["calls"] == [*expected, "default"]
        assert months["tracking_sessions"] == [*expected, "default"]
        assert await _rows_in(db, "calls_default") == 0
        assert await _rows_in(db, "calls_p2027_06") == 1
        assert await _rows_in(db, "tracking_sessions_p2027_06") == 1
        call = (await db.execute(select(Call))).scalar_one()
        assert call.session_id == session_id
        assert call.duration == 95
    # Nothing is missing now: the next round creates nothing.
    assert await partitions.keep_partitions(sessionmaker, None, late, asyncio.sleep) == 0  # type: ignore[arg-type]

    # A later event of the same call still finds its row, now in the June partition.
    clock.now = late + timedelta(minutes=5)
    number = call.called
    assert number is not None
    again = await world.hook("call.ended", "june-call", called=number, duration=120)
    assert again.status_code == 200, again.text
    async with sessionmaker() as db:
        [only] = (await db.execute(select(Call))).scalars().all()
        assert only.id == call.id
        assert only.duration == 120


def _month_range(first: date, last: date) -> list[date]:
    months, month = [], first
    while month <= last:
        months.append(month)
        month = partitions.next_month(month)
    return months


async def test_detached_months_leave_the_live_tables_and_a_late_event_calls_again(
    anonymous: httpx.AsyncClient,
    client: httpx.AsyncClient,
    clock: ManualClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    world = await World(anonymous, client, clock).build()
    await visit_and_call(world, datetime(2026, 12, 10, 9, 0, tzinfo=UTC), "december-call")
    january = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
    await visit_and_call(world, january, "january-call")

    async with sessionmaker() as db:
        connection = await db.connection()
        with pytest.raises(partitions.DetachRefused, match="only months that have ended"):
            await partitions.detach_before(connection, date(2027, 2, 1), now=january)
        with pytest.raises(partitions.DetachRefused, match="not the first day"):
            await partitions.detach_before(connection, date(2027, 1, 2), now=january)
        detached = await partitions.detach_before(connection, date(2027, 1, 1), now=january)
        await db.commit()
    assert detached == ["calls_p2026_12", "tracking_sessions_p2026_12"]

    async with sessionmaker() as db:
        # The month is a table of its own now, out of `calls`.
        assert await _rows_in(db, "calls_p2026_12") == 1
        assert await _rows_in(db, "tracking_sessions_p2026_12") == 1
        assert [c.provider_call_id for c in (await db.execute(select(Call))).scalars()] == [
            "january-call"
        ]
        assert (await db.scalar(select(func.count()).select_from(TrackingSession))) == 1
        assert "2026-12" not in (await _months(db))["calls"]
        old_key = await db.get(CallKey, (uuid.UUID(world.pbx["id"]), "december-call"))
        assert old_key is not None

    # An event of the archived call: it becomes a call again, in this month, under its own id
    # (its credits and CRM deliveries stay one call's).
    clock.now = january + timedelta(hours=1)
    late = await world.hook("call.ended", "december-call", called="+7 495 000-00-01", duration=30)
    assert late.status_code == 200, late.text
    async with sessionmaker() as db:
        again = (
            await db.execute(select(Call).where(Call.provider_call_id == "december-call"))
        ).scalar_one()
        assert again.id == old_key.call_id
        key = await db.get(CallKey, (uuid.UUID(world.pbx["id"]), "december-call"))
        assert key is not None
        assert key.call_id == again.id
        assert key.created_at == january + timedelta(hours=1)
        assert await _rows_in(db, "calls_p2027_01") == 2


async def test_the_migration_carries_the_rows_into_their_months_and_back(
    anonymous: httpx.AsyncClient,
    client: httpx.AsyncClient,
    clock: ManualClock,
    database_url: str,
) -> None:
    world = await World(anonymous, client, clock).build()
    december = await visit_and_call(
        world, datetime(2026, 12, 10, 9, 0, tzinfo=UTC), "december-call"
    )
    january = await visit_and_call(world, datetime(2027, 1, 20, 9, 0, tzinfo=UTC), "january-call")
    # Two months past the last month created: in the default partition.
    april = await visit_and_call(world, datetime(2027, 4, 2, 9, 0, tzinfo=UTC), "april-call")

    # Alembic runs its own event loop: in a thread of its own, beside the app's.
    await asyncio.to_thread(migrations.downgrade, database_url, "c3f8a2d9e471")
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            kind = await connection.scalar(
                text("SELECT relkind::text FROM pg_class WHERE relname = 'calls'")
            )
            assert kind == "r"  # a plain table again, with every row
            assert await connection.scalar(text("SELECT count(*) FROM calls")) == 3
            assert await connection.scalar(text("SELECT count(*) FROM tracking_sessions")) == 3
    finally:
        await engine.dispose()

    await asyncio.to_thread(migrations.upgrade, database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            where = {
                row.session_id: row.partition
                for row in await connection.execute(
                    text("SELECT session_id, tableoid::regclass::text AS partition FROM calls")
                )
            }
            assert where == {
                december: "calls_p2026_12",
                january: "calls_p2027_01",
                april: "calls_default",
            }
            keys = await connection.execute(
                text("SELECT provider_call_id, call_id FROM call_keys ORDER BY provider_call_id")
            )
            ids: dict[str, uuid.UUID] = dict(
                (await connection.execute(text("SELECT provider_call_id, id FROM calls"))).all()
            )
            assert dict(keys.all()) == ids
    finally:
        await engine.dispose()


def test_the_partitions_command_lists_and_detaches(database_url: str) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "partitions", *args],
            env=cli_env(CALLSOURCE_DATABASE_URL=database_url),
            capture_output=True,
            text=True,
            timeout=60,
        )

    listed = run()
    assert listed.returncode == 0, listed.stderr
    names = [line.split("\t")[0] for line in listed.stdout.splitlines()]
    this_month = partitions.month_start(datetime.now(UTC).date())
    assert partitions.partition_name("calls", this_month) in names
    assert "calls_default" in names
    assert "tracking_sessions_default" in names

    bad = run("detach", "--before", "2026-13")
    assert bad.returncode == 2
    assert "'2026-13' is not a month as YYYY-MM" in bad.stderr
    future = run("detach", "--before", f"{partitions.add_months(this_month, 2):%Y-%m}")
    assert future.returncode == 2
    assert "only months that have ended" in future.stderr
    nothing = run("detach", "--before", f"{this_month:%Y-%m}")
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stdout.strip() == f"no month before {this_month:%Y-%m} is attached"


def test_the_partitions_command_explains_sqlite(tmp_path: object) -> None:
    result = subprocess.run(
        [*CLI, "partitions"],
        env=cli_env(CALLSOURCE_DATABASE_URL="sqlite+aiosqlite:///./callsource.db"),
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "partitions are a PostgreSQL feature" in result.stderr


async def test_two_first_events_of_one_call_meet_on_one_row(
    anonymous: httpx.AsyncClient,
    client: httpx.AsyncClient,
    clock: ManualClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The race the one-statement path cannot settle alone: the second event's statement
    waits for the first's key and cannot see its call, so it goes step by step, and finds it."""
    world = await World(anonymous, client, clock).build()
    now = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)

    def values() -> dict[str, object]:
        return {
            "id": uuid.uuid4(),
            "site_id": uuid.UUID(world.site["id"]),
            "integration_id": uuid.UUID(world.pbx["id"]),
            "provider_call_id": "raced",
            "status": "ringing",
            "started_at": now,
            "created_at": now,
            "updated_at": now,
        }

    async with sessionmaker() as first, sessionmaker() as second:
        made, created = await calls_repository.lock_or_create(first, values())
        assert created
        waiting = asyncio.create_task(calls_repository.lock_or_create(second, values()))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # held by the first event's key
        await first.commit()
        found, created_again = await asyncio.wait_for(waiting, timeout=10)
        await second.commit()
    assert found["id"] == made["id"]
    assert not created_again
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(Call)) == 1
        assert await db.scalar(select(func.count()).select_from(CallKey)) == 1
