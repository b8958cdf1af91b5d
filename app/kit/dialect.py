"""Every difference between SQLite and PostgreSQL the code relies on, one function each.

Callsource runs on both: SQLite is the embedded default (one process, one writer at a time),
PostgreSQL the production backend. Domain repositories write their SQL once and ask this module
wherever the two databases differ, so no repository holds a dialect branch of its own and each
difference has one place, one name and one test (tests/test_dialects.py runs each function on
both databases).

What is declared rather than decided stays in the schema, each covered by the same tests: the
partial unique indexes (`postgresql_where` / `sqlite_where` in app.models) and the column types
of app.models.base (UTC datetimes, JSON as JSONB on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Select, Table, cast, event, func, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

POSTGRESQL = "postgresql"
SQLITE = "sqlite"


class _Bound(Protocol):
    """Anything that knows its dialect: a connection or an engine (sync or async)."""

    @property
    def dialect(self) -> Dialect: ...


def name_of(bind: AsyncSession | _Bound) -> str:
    """The dialect name ("postgresql" or "sqlite") a session or connection talks to."""
    return bind.get_bind().dialect.name if isinstance(bind, AsyncSession) else bind.dialect.name


# --- INSERT ... ON CONFLICT ----------------------------------------------------------------

# Both databases write the same ON CONFLICT clause, but SQLAlchemy offers it only on each
# dialect's own insert(). Their methods are the same; one of the two is returned.
ConflictInsert: TypeAlias = postgresql.Insert | sqlite.Insert
_CONFLICT_INSERTS: dict[str, Callable[[Table], ConflictInsert]] = {
    POSTGRESQL: postgresql.insert,
    SQLITE: sqlite.insert,
}


def insert_on_conflict(bind: AsyncSession | _Bound, table: Any) -> ConflictInsert:
    """INSERT into `table` that takes `.on_conflict_do_nothing()` / `.on_conflict_do_update()`
    (and `.excluded`) on the database `bind` talks to."""
    return _CONFLICT_INSERTS[name_of(bind)](table)


T = TypeVar("T")


class PerDialect(Generic[T]):
    """A statement with ON CONFLICT built once for each database, at import.

    The PBX event, call and lease paths run theirs for every event: building the statement per
    event cost more than running it. `build` receives the dialect's insert() constructor.
    """

    __slots__ = ("_built",)

    def __init__(self, build: Callable[[Callable[[Table], ConflictInsert]], T]) -> None:
        self._built = {name: build(insert) for name, insert in _CONFLICT_INSERTS.items()}

    def on(self, bind: AsyncSession | _Bound) -> T:
        """The statement for the database `bind` talks to."""
        return self._built[name_of(bind)]


# --- reading ---------------------------------------------------------------------------------


SelectT = TypeVar("SelectT", bound=Select[Any])


def lock_skipping_locked(query: SelectT, bind: AsyncSession | _Bound) -> SelectT:
    """The rows of `query`, locked for this transaction, leaving out rows that another
    transaction holds (FOR UPDATE SKIP LOCKED), so workers share a queue without waiting on
    each other. SQLite has no row locks and one writer at a time: the query is unchanged,
    which is what makes SQLite a single-worker backend."""
    if name_of(bind) == POSTGRESQL:
        return query.with_for_update(skip_locked=True)
    return query


def epoch_seconds(bind: AsyncSession | _Bound, column: Any) -> ColumnElement[int]:
    """Whole seconds since the epoch (floored) of a UTC datetime column, computed in SQL."""
    if name_of(bind) == POSTGRESQL:
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    # SQLite keeps UTC text (see `stored_datetime`); strftime('%s') reads it as epoch seconds,
    # but rounds the fraction to milliseconds first (23:59:59.9996 would be the next day's
    # first second): only the text up to whole seconds is read.
    return cast(func.strftime("%s", func.substr(column, 1, 19)), BigInteger)


async def custom_plans_without_jit(db: AsyncSession) -> None:
    """For the rest of the transaction: no JIT compiling, and a plan made for each run's own
    parameters rather than a generic one (PostgreSQL's `SET LOCAL jit` and
    `plan_cache_mode`). SQLite has neither: nothing to do."""
    if name_of(db) == POSTGRESQL:
        await db.execute(text("SET LOCAL jit = off"))
        await db.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


# --- writing ---------------------------------------------------------------------------------


def writes_in_ctes(bind: AsyncSession | _Bound) -> bool:
    """Whether several INSERTs and UPDATEs can run as one statement in data-modifying CTEs
    (`WITH a AS (INSERT ...), b AS (UPDATE ...) SELECT ...`), on the asyncpg driver directly.
    PostgreSQL can; SQLite allows only SELECTs in a WITH, so there the rows are written one
    statement at a time."""
    return name_of(bind) == POSTGRESQL


def stored_datetime(value: datetime, dialect: Dialect) -> datetime:
    """A UTC datetime as the database stores it. PostgreSQL's timestamptz keeps the offset;
    SQLite keeps text, and naive UTC text is what compares and sorts correctly there."""
    return value.replace(tzinfo=None) if dialect.name == SQLITE else value


# --- the engine and the schema ---------------------------------------------------------------


def is_sqlite_url(database_url: str) -> bool:
    return database_url.startswith(SQLITE)


def engine_options(database_url: str) -> dict[str, Any]:
    """create_async_engine's options for the database at `database_url`."""
    if is_sqlite_url(database_url):
        # One writer at a time: wait for the lock instead of failing with "database is locked".
        return {"connect_args": {"timeout": 30}}
    # Opened as needed and then kept: an overflow connection is closed when returned, and
    # with a 20 + 10 pool the tracker benchmark's 32 requests in flight reopened one every
    # 80 requests, each costing a PostgreSQL process, a TLS attempt and a type
    # introspection (7 % of the server's time). Requests beyond 40 in flight wait for one;
    # PostgreSQL's max_connections must cover 40 per process (README, "Production").
    return {"pool_size": 40, "max_overflow": 0}


def prepare_connections(engine: AsyncEngine) -> None:
    """Make every new connection of `engine` behave as the code expects. SQLite enforces
    foreign keys only when asked, per connection, and runs in WAL mode so readers do not wait
    for the writer; PostgreSQL needs nothing."""
    if engine.dialect.name == SQLITE:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def database_file(database_url: str) -> str | None:
    """The file an SQLite database lives in (None for an in-memory one); PostgreSQL has none."""
    if not is_sqlite_url(database_url):
        return None
    return make_url(database_url).database or None


def migrates_itself(database_url: str) -> bool:
    """Whether a process that opens this database brings its schema up to date first. The
    embedded SQLite default does (nobody else would); PostgreSQL is migrated by
    `callsource migrate`, once per release, not by every process that starts."""
    return is_sqlite_url(database_url)
