"""/healthz and /metrics."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.exceptions import Forbidden, Unauthorized
from app.state import AppState, app_state

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


async def _database_ok(state: AppState) -> bool:
    try:
        async with state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """200 when the database and the pool store answer, 503 (with which one failed) otherwise."""
    state = app_state(request)
    database_ok = await _database_ok(state)
    pool_store = state.pool_store
    store_ok = await pool_store.healthy()
    body: dict[str, Any] = {
        "status": "ok" if database_ok and store_ok else "unavailable",
        "database": {"ok": database_ok, "backend": state.engine.dialect.name},
        "pool_store": {"ok": store_ok, "kind": pool_store.kind},
    }
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


async def require_metrics_access(request: Request) -> None:
    """The figures name routes, pools and load: with CALLSOURCE_METRICS_TOKEN set they need it
    as a bearer token, otherwise only a scraper on this machine gets them. The raw peer
    address decides, never a forwarded header: behind a proxy every client would be loopback,
    so a proxied deployment sets the token."""
    token = app_state(request).settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            error = Unauthorized("/metrics needs Authorization: Bearer $CALLSOURCE_METRICS_TOKEN")
            error.headers["WWW-Authenticate"] = "Bearer"
            raise error
        return
    if not _is_loopback(request.client.host if request.client else None):
        raise Forbidden(
            "/metrics answers loopback peers only; set CALLSOURCE_METRICS_TOKEN to scrape it "
            "from elsewhere"
        )


@router.get("/metrics", dependencies=[Depends(require_metrics_access)])
async def metrics(request: Request) -> Response:
    state = app_state(request)
    try:
        async with state.sessionmaker() as db:
            await state.pool_metrics.refresh(db, state.pool_store, now=state.clock())
            await db.commit()
    except Exception:
        # The HTTP figures are still worth serving when the pool figures cannot be read.
        log.exception("could not refresh the pool metrics")
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
