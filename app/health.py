"""/healthz and /metrics."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


async def _database_ok(request: Request) -> bool:
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """200 when the database and the pool store answer, 503 (with which one failed) otherwise."""
    database_ok = await _database_ok(request)
    pool_store = request.app.state.pool_store
    store_ok = await pool_store.healthy()
    body: dict[str, Any] = {
        "status": "ok" if database_ok and store_ok else "unavailable",
        "database": {"ok": database_ok, "backend": request.app.state.engine.dialect.name},
        "pool_store": {"ok": store_ok, "kind": pool_store.kind},
    }
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    state = request.app.state
    try:
        async with state.sessionmaker() as db:
            await state.pool_metrics.refresh(db, state.pool_store, now=state.clock())
            await db.commit()
    except Exception:
        # The HTTP figures are still worth serving when the pool figures cannot be read.
        log.exception("could not refresh the pool metrics")
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
