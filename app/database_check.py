"""Is CALLSOURCE_DATABASE_URL usable? Checked before `serve`, `migrate` and `worker` start, so a
wrong URL or an unreachable database is one line naming the problem instead of a long
traceback, or a server that starts and then answers every request with a 500."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from pathlib import Path

import asyncpg
from sqlalchemy import URL, make_url, text
from sqlalchemy.exc import ArgumentError

from app.config import ConfigError
from app.db import create_engine

URL_FORMS = "postgresql+asyncpg://user:password@host:5432/name or sqlite+aiosqlite:///path/file.db"
CONNECT_TIMEOUT_S = 10.0


def parse_database_url(url: str) -> URL:
    """The URL parsed, or ConfigError saying which form to use."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"CALLSOURCE_DATABASE_URL is not a database URL ({exc}): use {URL_FORMS}"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver != "asyncpg":
        raise ConfigError(
            f"CALLSOURCE_DATABASE_URL starts with {parsed.drivername}://, a driver Callsource "
            "does not use: write postgresql+asyncpg://user:password@host:5432/name"
        )
    if backend == "sqlite" and driver != "aiosqlite":
        raise ConfigError(
            f"CALLSOURCE_DATABASE_URL starts with {parsed.drivername}://, a driver Callsource "
            "does not use: write sqlite+aiosqlite:///path/file.db"
        )
    if backend not in ("postgresql", "postgres", "sqlite"):
        raise ConfigError(f"CALLSOURCE_DATABASE_URL: {backend} is not supported: use {URL_FORMS}")
    return parsed


def check_database(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """ConfigError naming the problem unless the database answers a query."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        folder = Path(parsed.database or ".").expanduser().resolve().parent
        if parsed.database not in (None, "", ":memory:") and not folder.is_dir():
            raise ConfigError(f"the folder of the SQLite database does not exist: {folder}")
    asyncio.run(_connect(parsed, url, timeout_s))


async def _connect(parsed: URL, url: str, timeout_s: float) -> None:
    engine = create_engine(url)
    try:
        async with asyncio.timeout(timeout_s), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except TimeoutError:
        raise ConfigError(
            f"the database at {_where(parsed)} did not answer within {timeout_s:g} s"
        ) from None
    except Exception as exc:
        raise ConfigError(_explain(exc, parsed)) from None
    finally:
        await engine.dispose()


def _where(parsed: URL) -> str:
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def _explain(exc: BaseException, parsed: URL) -> str:
    """One line for the first cause we recognise; the URL's password never appears."""
    where = _where(parsed)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve the database host {parsed.host!r} ({cause.strerror})"
        if isinstance(cause, ConnectionRefusedError):
            return f"nothing accepts connections at {where} (connection refused): is it running?"
        if isinstance(cause, asyncpg.InvalidPasswordError):
            return f"PostgreSQL at {where} refused the password of user {parsed.username!r}"
        if isinstance(cause, asyncpg.InvalidCatalogNameError):
            return f"the database {parsed.database!r} does not exist at {where}: create it first"
        if isinstance(cause, asyncpg.PostgresError):
            return f"PostgreSQL at {where} refused the connection: {cause}"
        if isinstance(cause, sqlite3.Error):
            return f"cannot open the SQLite database {where}: {cause}"
        if isinstance(cause, OSError):
            return f"cannot connect to the database at {where}: {cause.strerror or cause}"
        cause = cause.__cause__ or cause.__context__
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"cannot connect to the database at {where}: {first_line}"
