"""One place that renders errors as {"detail": ...}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.exceptions import AppError
from app.outages import install_outage_handlers


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


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": _field_path(tuple(e.get("loc", ()))),
            "message": e.get("msg"),
            "type": e.get("type"),
        }
        for e in exc.errors()
    ]
    return JSONResponse(
        {"detail": _validation_message(list(exc.errors())), "errors": errors}, status_code=422
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    install_outage_handlers(app)
