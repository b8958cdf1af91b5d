"""Each SQLite/PostgreSQL difference (app.kit.dialect), run on both databases: the same
observable result on each, or, where a database lacks a feature, the documented stand-in.

The `engine` and `db` fixtures run every test here once on SQLite and once on PostgreSQL.
Probe tables are TEMPORARY: they live on the test's one connection and leave the shared
PostgreSQL database as it was.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.db import create_engine
from app.kit import dialect
from app.models import Pool, Site, TargetNumber, TrackingNumber
from app.models.base import JSONType, UTCDateTime

NOW = datetime(2026, 12, 4, 9, 30, 15, 750_000, tzinfo=UTC)

_PROBES = MetaData()
PROBE = Table(
    "dialect_probe",
    _PROBES,
    Column("id", Integer, primary_key=True),
    Column("key", String(20), unique=True, nullable=False),
    Column("value", String(20), nullable=False),
    Column("at", UTCDateTime()),
    Column("doc", JSONType),
    prefixes=["TEMPORARY"],
)


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One connection (a TEMPORARY table is seen by its own connection only) with the probe."""
    async with engine.connect() as connection:
        await connection.run_sync(_PROBES.create_all)
        await connection.commit()
        yield connection
        await connection.rollback()
        await connection.run_sync(_PROBES.drop_all)
        await connection.commit()


async def _rows(connection: AsyncConnection) -> list[tuple[Any, ...]]:
    query = select(PROBE.c.key, PROBE.c.value).order_by(PROBE.c.key)
    return [tuple(row) for row in (await connection.execute(query)).all()]


# --- INSERT ... ON CONFLICT ------------------------------------------------------------------


async def test_insert_on_conflict_do_nothing_skips_a_stored_key(
    connection: AsyncConnection,
) -> None:
    def statement(key: str, value: str) -> Any:
        return (
            dialect.insert_on_conflict(connection, PROBE)
            .values(key=key, value=value)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(PROBE.c.id)
        )

    first = (await connection.execute(statement("a", "first"))).scalar_one_or_none()
    again = (await connection.execute(statement("a", "second"))).scalar_one_or_none()

    assert first is not None
    assert again is None
    assert await _rows(connection) == [("a", "first")]


async def test_insert_on_conflict_do_update_takes_the_new_values(
    connection: AsyncConnection,
) -> None:
    for value in ("first", "second"):
        statement = dialect.insert_on_conflict(connection, PROBE).values(
            [{"key": "a", "value": value}, {"key": f"b-{value}", "value": value}]
        )
        statement = statement.on_conflict_do_update(
            index_elements=["key"], set_={"value": statement.excluded.value}
        )
        await connection.execute(statement)

    assert await _rows(connection) == [
        ("a", "second"),
        ("b-first", "first"),
        ("b-second", "second"),
    ]


async def test_insert_on_conflict_takes_a_session_too(db: AsyncSession) -> None:
    statement = dialect.insert_on_conflict(db, Site)
    assert statement.table.name == "sites"
    assert type(statement).__module__.startswith(f"sqlalchemy.dialects.{dialect.name_of(db)}")


_LOCK_OR_CREATE = dialect.PerDialect(
    lambda insert_into: (
        insert_into(PROBE)
        .on_conflict_do_update(index_elements=["key"], set_={"key": PROBE.c.key})
        .returning(PROBE.c.id, PROBE.c.value)
    )
)


async def test_a_statement_built_once_per_dialect_runs_on_this_one(
    connection: AsyncConnection,
) -> None:
    statement = _LOCK_OR_CREATE.on(connection)
    assert statement is _LOCK_OR_CREATE.on(connection)  # built at import, not per call

    created = (await connection.execute(statement, {"key": "a", "value": "first"})).one()
    found = (await connection.execute(statement, {"key": "a", "value": "second"})).one()

    # The existing row comes back unchanged: "update to itself" locks and returns it.
    assert tuple(found) == tuple(created)
    assert created.value == "first"
    assert await _rows(connection) == [("a", "first")]


# --- reading ---------------------------------------------------------------------------------


async def test_lock_skipping_locked_returns_the_rows_in_order(
    connection: AsyncConnection,
) -> None:
    await connection.execute(insert(PROBE), [{"key": k, "value": k} for k in ("c", "a", "b")])
    query = select(PROBE.c.key).order_by(PROBE.c.key).limit(2)

    found = await connection.execute(dialect.lock_skipping_locked(query, connection))

    assert list(found.scalars()) == ["a", "b"]


@pytest.mark.only_on("postgresql")
async def test_lock_skipping_locked_leaves_out_rows_another_transaction_holds(
    engine: AsyncEngine, db: AsyncSession
) -> None:
    # Real rows (a temporary table is not seen by the second connection).
    site = _site()
    db.add(site)
    await db.commit()
    async with engine.connect() as other:
        query = select(Site.id)
        held = await other.execute(dialect.lock_skipping_locked(query, other))
        assert list(held.scalars()) == [site.id]

        seen = await db.execute(dialect.lock_skipping_locked(query, db))

        assert list(seen.scalars()) == []
        await other.rollback()


async def test_lock_skipping_locked_is_only_written_where_rows_lock(db: AsyncSession) -> None:
    query = dialect.lock_skipping_locked(select(Site.id), db)
    sql = str(query.compile(dialect=db.get_bind().dialect))
    assert ("FOR UPDATE SKIP LOCKED" in sql) == (dialect.name_of(db) == dialect.POSTGRESQL)


@pytest.mark.parametrize(
    "at",
    [
        NOW,
        NOW.replace(microsecond=0),
        datetime(1999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
        # The last half millisecond of a day is still that day (SQLite would round it up).
        datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        # Stored as UTC whatever the offset it came with.
        datetime(2026, 12, 4, 12, 30, 15, 1, tzinfo=timezone(timedelta(hours=3))),
    ],
)
async def test_epoch_seconds_are_whole_seconds_floored(
    connection: AsyncConnection, at: datetime
) -> None:
    await connection.execute(insert(PROBE).values(key="a", value="a", at=at))

    seconds = dialect.epoch_seconds(connection, PROBE.c.at)
    found = (await connection.execute(select(seconds))).scalar_one()

    assert int(found) == math.floor(at.timestamp())


async def test_custom_plans_without_jit_last_for_the_transaction_only(db: AsyncSession) -> None:
    postgresql = dialect.name_of(db) == dialect.POSTGRESQL
    if postgresql:
        before = (await db.execute(text("SHOW plan_cache_mode"))).scalar_one()
        await db.rollback()

    await dialect.custom_plans_without_jit(db)

    # A query after it runs as usual on both databases.
    assert (await db.execute(select(Site.id))).all() == []
    if postgresql:
        assert (await db.execute(text("SHOW jit"))).scalar_one() == "off"
        assert (await db.execute(text("SHOW plan_cache_mode"))).scalar_one() == "force_custom_plan"
        await db.rollback()
        assert (await db.execute(text("SHOW plan_cache_mode"))).scalar_one() == before


# --- writing ---------------------------------------------------------------------------------


_WRITING_CTE = """
WITH written AS (INSERT INTO dialect_probe (key, value) VALUES ('a', 'a') RETURNING key)
SELECT key FROM written
"""


async def test_writes_in_ctes_says_whether_a_with_may_insert(
    connection: AsyncConnection,
) -> None:
    if dialect.writes_in_ctes(connection):
        assert list((await connection.execute(text(_WRITING_CTE))).scalars()) == ["a"]
        assert await _rows(connection) == [("a", "a")]
    else:
        with pytest.raises(OperationalError):
            await connection.execute(text(_WRITING_CTE))


async def test_writes_in_ctes_holds_for_the_driver_the_visit_write_uses(
    connection: AsyncConnection,
) -> None:
    """The one-statement visit write goes to asyncpg itself (`$n` placeholders)."""
    raw = (await connection.get_raw_connection()).driver_connection
    assert (type(raw).__module__.split(".")[0] == "asyncpg") == dialect.writes_in_ctes(connection)


async def test_stored_datetimes_come_back_as_the_same_utc_instant(
    connection: AsyncConnection,
) -> None:
    moscow = timezone(timedelta(hours=3))
    stored = [NOW, NOW.astimezone(moscow), NOW + timedelta(microseconds=1)]
    await connection.execute(
        insert(PROBE), [{"key": str(n), "value": "v", "at": at} for n, at in enumerate(stored)]
    )

    found = list((await connection.execute(select(PROBE.c.at).order_by(PROBE.c.key))).scalars())
    # Compared in SQL against a bound value of another offset: the same instant on both.
    same = select(PROBE.c.key).where(PROBE.c.at == NOW.astimezone(moscow)).order_by(PROBE.c.key)
    later = select(PROBE.c.key).where(PROBE.c.at > NOW)

    assert found == [NOW, NOW, NOW + timedelta(microseconds=1)]
    assert all(at.tzinfo is UTC for at in found)
    assert list((await connection.execute(same)).scalars()) == ["0", "1"]
    assert list((await connection.execute(later)).scalars()) == ["2"]


async def test_a_naive_datetime_is_refused_on_the_way_in(connection: AsyncConnection) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        await connection.execute(
            insert(PROBE).values(key="a", value="a", at=NOW.replace(tzinfo=None))
        )


async def test_json_columns_keep_what_was_stored(connection: AsyncConnection) -> None:
    docs = [
        {"name": "Ёлка", "tags": ["a", "b"], "nested": {"n": 1.5, "none": None, "ok": True}},
        ["shop.example", "www.shop.example"],
    ]
    await connection.execute(
        insert(PROBE), [{"key": str(n), "value": "v", "doc": doc} for n, doc in enumerate(docs)]
    )

    found = (await connection.execute(select(PROBE.c.doc).order_by(PROBE.c.key))).scalars()
    assert list(found) == docs


# --- the engine and the schema ---------------------------------------------------------------


async def test_foreign_keys_hold_on_every_connection(engine: AsyncEngine) -> None:
    """SQLite checks them only when each connection asks (prepare_connections does)."""
    for _ in range(2):
        async with engine.connect() as connection:
            orphan = {
                "id": uuid.uuid4(),
                "site_id": uuid.uuid4(),
                "number": "+1",
                "created_at": NOW,
            }
            with pytest.raises(IntegrityError):
                await connection.execute(insert(TargetNumber), orphan)
            await connection.rollback()


async def test_a_second_writer_waits_for_the_first_instead_of_failing(
    database_url: str,
) -> None:
    """SQLite: one writer at a time, the others wait (engine_options' timeout); PostgreSQL
    writers of different rows do not wait at all."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as first, engine.connect() as second:
            await first.execute(insert(Site), _site_row())
            waiting = asyncio.create_task(second.execute(insert(Site), _site_row()))
            await asyncio.sleep(0.3)
            await first.commit()
            await asyncio.wait_for(waiting, timeout=10)
            await second.commit()
        async with engine.connect() as connection:
            assert len((await connection.execute(select(Site.id))).all()) == 2
    finally:
        async with engine.begin() as connection:
            await connection.execute(delete(Site))
        await engine.dispose()


def test_engine_options_name_a_pool_only_where_connections_cost(database_url: str) -> None:
    options = dialect.engine_options(database_url)
    if dialect.is_sqlite_url(database_url):
        assert options == {"connect_args": {"timeout": 30}}
    else:
        assert options == {"pool_size": 40, "max_overflow": 0}


def test_only_the_embedded_database_migrates_itself_and_has_a_file(database_url: str) -> None:
    embedded = database_url.startswith("sqlite")
    assert dialect.migrates_itself(database_url) is embedded
    file = dialect.database_file(database_url)
    assert (file is not None and file.endswith("test.db")) is embedded
    assert dialect.database_file("sqlite+aiosqlite://") is None


async def test_one_live_tracking_number_per_number_retired_ones_kept(db: AsyncSession) -> None:
    """The partial unique index (postgresql_where / sqlite_where) of tracking_numbers."""
    site = _site()
    db.add(site)
    await db.flush()

    def number(retired_at: datetime | None) -> TrackingNumber:
        return TrackingNumber(
            site_id=site.id,
            number="+74950000001",
            kind="static",
            created_at=NOW,
            retired_at=retired_at,
        )

    db.add_all([number(NOW), number(NOW), number(None)])
    await db.commit()
    db.add(number(None))
    with pytest.raises(IntegrityError):
        await db.commit()


async def test_one_live_pool_per_target_number_retired_ones_kept(db: AsyncSession) -> None:
    """The partial unique index (postgresql_where / sqlite_where) of pools."""
    site = _site()
    db.add(site)
    await db.flush()
    target = TargetNumber(site_id=site.id, number="+74951234567", created_at=NOW)
    db.add(target)
    await db.flush()

    def pool(retired_at: datetime | None) -> Pool:
        return Pool(
            site_id=site.id, target_number_id=target.id, created_at=NOW, retired_at=retired_at
        )

    db.add_all([pool(NOW), pool(NOW), pool(None)])
    await db.commit()
    db.add(pool(None))
    with pytest.raises(IntegrityError):
        await db.commit()


def _site_row() -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "public_key": uuid.uuid4().hex,
        "name": "Shop",
        "domains": ["shop.example"],
        "country": "RU",
        "timezone": "Europe/Moscow",
        "created_at": NOW,
        "retired_at": None,
    }


def _site() -> Site:
    return Site(**_site_row())
