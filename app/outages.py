"""The database is unreachable: which errors say so, and the answer they get.

A PBX retries a webhook answered 5xx, so the honest answer to "I cannot store your event right
now" is 503 with `Retry-After`, not a 500 and a traceback. The same goes for the admin API and
the dashboard. The errors come in several shapes: a pooled connection PostgreSQL closed
(DBAPIError with `connection_invalidated`), a new one refused or timing out (a bare OSError or
TimeoutError from the driver), an OperationalError or InterfaceError from the driver, a pool
with no connection to give (sqlalchemy's TimeoutError). They are mapped here, in one place.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from app.exceptions import ServiceUnavailable

log = logging.getLogger(__name__)

# A restarted PostgreSQL takes a few seconds; a PBX waits at least this before its retry.
RETRY_AFTER_S = 5
DETAIL = "the database is unreachable; try again shortly"


def is_database_outage(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached now (not: a query is wrong)."""
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, (sa_exc.OperationalError, sa_exc.InterfaceError)
        )
    return isinstance(exc, (OSError, TimeoutError, sa_exc.TimeoutError, sa_exc.DisconnectionError))


def unavailable() -> ServiceUnavailable:
    """The 503 for an outage, with its Retry-After."""
    error = ServiceUnavailable(DETAIL)
    error.headers["Retry-After"] = str(RETRY_AFTER_S)
    return error


def describe(exc: BaseException) -> str:
    """One line naming the failure. Never str() of a sqlalchemy error: it carries the
    statement's parameters (phone numbers, credentials)."""
    cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    message = str(cause).splitlines()[0][:200] if str(cause) else ""
    return f"{type(cause).__name__}: {message}" if message else type(cause).__name__


def log_outage(request: Request, exc: BaseException, *, answered: str = "503") -> None:
    """One warning line, no traceback: an outage is an operations event, not a bug."""
    log.warning(
        "database unreachable, %s %s answered %s: %s",
        request.method,
        request.url.path,
        answered,
        describe(exc),
    )


async def _outage(request: Request, exc: Exception) -> JSONResponse:
    if not is_database_outage(exc):
        raise exc  # a real bug: the server's 500, traceback and all
    log_outage(request, exc)
    error = unavailable()
    return JSONResponse({"detail": error.detail}, status_code=503, headers=error.headers)


def install_outage_handlers(app: FastAPI) -> None:
    for kind in (
        sa_exc.DBAPIError,
        sa_exc.TimeoutError,
        sa_exc.DisconnectionError,
        OSError,
        TimeoutError,
    ):
        app.add_exception_handler(kind, _outage)
