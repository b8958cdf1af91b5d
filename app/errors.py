"""One place that renders errors as {"detail": ...}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from app.exceptions import AppError
from app.outages import install_outage_handlers

log = logging.getLogger("callsource.http")


def _field_path(loc: tuple[Any, ...]) -> str:
    # ("body", "numbers", 2) -> "numbers[2]"; the "body" / "query" prefix is noise to a user.
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or str(loc[0] if loc else "request")


def _validation_message(errors: list[dict[str, Any]]) -> str:
    messages = []
    for error in errors:
        if error.get("type") == "json_invalid":
            messages.append("body: not valid JSON")
            continue
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        messages.append(f"{_field_path(tuple(error.get('loc', ())))}: {message}")
    return "; ".join(messages)


def _encodable(text: str) -> str:
    """A detail quoting the input (an unknown column's name, say) may carry a lone surrogate,
    which JSONResponse cannot encode: a 500 instead of the 4xx. Such halves become "?"."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(
        {"detail": _encodable(exc.detail)}, status_code=exc.status_code, headers=exc.headers
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": _encodable(_field_path(tuple(e.get("loc", ())))),
            "message": _encodable(str(e.get("msg"))),
            "type": e.get("type"),
        }
        for e in exc.errors()
    ]
    return JSONResponse(
        {"detail": _encodable(_validation_message(list(exc.errors()))), "errors": errors},
        status_code=422,
    )


async def _client_disconnect(request: Request, _exc: Exception) -> Response:
    # Nobody is left to answer: a mobile visitor leaving the page, a PBX timing out. One line,
    # the path without its query (a PBX's ?token= is a secret), not a traceback per hang-up.
    log.warning(
        "client hung up before its request was read: %s %s", request.method, request.url.path
    )
    return Response(status_code=499)  # nginx's "client closed request"; never delivered


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    install_outage_handlers(app)
