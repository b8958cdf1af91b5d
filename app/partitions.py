"""The monthly partitions of `calls` and `tracking_sessions` on PostgreSQL (issue 19).

The migration `d5b8e1f4a923` made both tables range-partitioned: `calls` by month of
`created_at` (the month a call was recorded in, which never changes) and `tracking_sessions`
by month of `started_at`, each month a table named `<table>_pYYYY_MM` (months in UTC), plus a
`<table>_default` partition that catches rows of a month nobody created.

The worker keeps the current month and the next two created (`keep_partitions`), so rows never
land in the default partition while it runs; if they did (a worker stopped for months), creating
their month moves them out of it. `callsource partitions detach --before YYYY-MM` detaches whole
months before a given one: each becomes a plain table of its own, which can be archived
(`pg_dump -t`) and dropped, and the live tables stop carrying it.

SQLite tables are not partitioned: everything here is PostgreSQL only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.kit import dialect

log = logging.getLogger(__name__)

# Table -> the column its months are ranges of.
PARTITIONED = {"calls": "created_at", "tracking_sessions": "started_at"}
MONTHS_AHEAD = 2
# One worker creates months at a time (pg_advisory_xact_lock's key: "partitions" in ASCII).
_LOCK_KEY = 0x706172746974696F

_NAME = re.compile(r"^(?P<table>calls|tracking_sessions)_(?:p(?P<y>\d{4})_(?P<m>\d{2})|default)$")


def is_partition_name(name: str) -> bool:
    """Whether `name` is one of the partitions this module creates (not a model's table)."""
    return _NAME.match(name) is not None


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def next_month(month: date) -> date:
    return add_months(month, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month:%Y_%m}"


def _bound(month: date) -> str:
    return f"'{month.isoformat()} 00:00:00+00'"


@dataclass(frozen=True, slots=True)
class Partition:
    table: str
    name: str
    month: date | None  # None: the default partition
    rows: int  # PostgreSQL's estimate (pg_class.reltuples), exact after ANALYZE


async def list_partitions(connection: AsyncConnection) -> list[Partition]:
    """The attached partitions of both tables, oldest month first, the default last."""
    found = await connection.execute(
        text(
            "SELECT parent.relname, child.relname, greatest(child.reltuples, 0)::bigint "
            "FROM pg_inherits "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE parent.relname = ANY(:tables) AND parent.relkind = 'p'"
        ),
        {"tables": list(PARTITIONED)},
    )
    partitions = []
    for table, name, rows in found.all():
        matched = _NAME.match(name)
        month = date(int(matched["y"]), int(matched["m"]), 1) if matched and matched["y"] else None
        partitions.append(Partition(table, name, month, int(rows)))
    return sorted(partitions, key=lambda p: (p.table, p.month is None, p.month or date.min))


async def create_month(connection: AsyncConnection, table: str, month: date) -> None:
    """Create `table`'s partition of `month`, moving its rows out of the default partition.

    Built beside the table and attached, rather than `CREATE TABLE ... PARTITION OF`, which
    refuses while the default partition holds rows of the month. The default partition is
    locked first, so no row of the month lands there between the move and the attach."""
    key, name, default = PARTITIONED[table], partition_name(table, month), f"{table}_default"
    low, high = _bound(month), _bound(next_month(month))
    # Fixed table names and dates this module formats; nothing comes from a request.
    await connection.execute(text(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE"))
    await connection.execute(
        text(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    moved = await connection.execute(
        text(
            f"WITH moved AS (DELETE FROM {default} "  # noqa: S608
            f"WHERE {key} >= {low} AND {key} < {high} RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved"
        )
    )
    await connection.execute(
        text(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({low}) TO ({high})")
    )
    if moved.rowcount:
        log.warning("moved %d rows of %s out of %s", moved.rowcount, name, default)


async def ensure_months(connection: AsyncConnection, *, now: datetime) -> list[str]:
    """Create the partitions missing up to MONTHS_AHEAD months after the current one (UTC):
    from the current month, or from the month after the newest one if the worker was stopped
    for longer than that (its rows are in the default partition and move to their month).
    The names created."""
    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    present = await list_partitions(connection)
    current = month_start(now.date())
    last = add_months(current, MONTHS_AHEAD)
    names = {p.name for p in present}
    created = []
    for table in PARTITIONED:
        months = [p.month for p in present if p.table == table and p.month is not None]
        month = min(current, next_month(max(months))) if months else current
        while month <= last:
            if partition_name(table, month) not in names:
                await create_month(connection, table, month)
                created.append(partition_name(table, month))
            month = next_month(month)
    return created


async def keep_partitions(
    sessionmaker: async_sessionmaker[AsyncSession],
    _client: httpx.AsyncClient,
    now: datetime,
    _sleep: Callable[[float], Awaitable[None]],
) -> int:
    """The worker step: the coming months' partitions exist. Returns how many it created."""
    async with sessionmaker() as db:
        if dialect.name_of(db) != dialect.POSTGRESQL:
            return 0
        connection = await db.connection()
        created = await ensure_months(connection, now=now)
        await db.commit()
    for name in created:
        log.info("partition %s created", name)
    return len(created)


class DetachRefused(ValueError):
    """A detach that would take a month still being written."""


async def detach_before(connection: AsyncConnection, before: date, *, now: datetime) -> list[str]:
    """Detach every month of both tables before `before` (the first of a month, at most the
    current one): each becomes a plain table, out of the live ones. The names detached."""
    if before.day != 1:
        raise DetachRefused(f"{before.isoformat()} is not the first day of a month")
    if before > month_start(now.date()):
        raise DetachRefused(
            f"{before:%Y-%m} is after the current month ({now:%Y-%m}): "
            "only months that have ended can be detached"
        )
    detached = []
    for partition in await list_partitions(connection):
        if partition.month is not None and partition.month < before:
            await connection.execute(
                text(f"ALTER TABLE {partition.table} DETACH PARTITION {partition.name}")
            )
            detached.append(partition.name)
    return detached
