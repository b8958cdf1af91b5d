"""The public endpoints the snippet talks to: POST sessions and pings, keyed by public key."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import session_scope
from app.deps import DbSession
from app.exceptions import AppError, InvalidField, NotFound, TooManyRequests
from app.outages import is_database_outage, log_outage, unavailable
from app.state import AppState, app_state
from app.tracking import http, service
from app.tracking.bots import is_bot
from app.tracking.refusals import SnippetRefusals
from app.tracking.schemas import PingRequest, SessionAnswer, SessionRequest
from app.tracking.site_config import SiteConfig, SiteConfigCache
from numberpool.rules import ClientKey
from numberpool.store import PoolStore

_Body = TypeVar("_Body", bound=BaseModel)

router = APIRouter(prefix="/t/{public_key}", tags=["tracker"])


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The body these routes read by hand (no FastAPI body parameter: no per-request cost),
    declared for the OpenAPI document: JSON, sent as text/plain by the snippet."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {"schema": schema},
                "text/plain": {
                    "schema": {"type": "string"},
                    "example": json.dumps({"url": "https://shop.example/?utm_source=google"}),
                },
            },
        }
    }


async def _site(state: AppState, db: AsyncSession, public_key: str) -> SiteConfig:
    site = await state.part(SiteConfigCache).get(db, public_key)
    if site is None or site.retired:
        raise NotFound(f"no site with public key {public_key!r}")
    return site


async def _limit(state: AppState, request: Request, site: SiteConfig, now: datetime) -> None:
    limits = state.public_limits
    checks = ((limits.per_address, http.client_address(request)), (limits.per_site, str(site.id)))
    refusal = await state.rate_limiter.hit_all(checks, now=now)
    if refusal is not None:
        raise TooManyRequests(
            f"too many requests ({refusal.limit.name})", retry_after_s=refusal.retry_after_s
        )


def parse(model: type[_Body], raw: Any) -> _Body:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "body"
        raise InvalidField(field, str(error["msg"]).removeprefix("Value error, ")) from exc


_NO_FORMS: set[str] = {"forms"}  # read only


def _json(answer: SessionAnswer, headers: dict[str, str], public_url: str) -> Response:
    if answer.forms is not None:
        # Absolute, beside tracker.js: the snippet imports it from a promise callback, where
        # browsers read a relative address against the page's, not the script's.
        answer.forms = public_url.rstrip("/") + answer.forms
    # Only sites that take form leads say anything of forms. Encoded by pydantic's own
    # serializer, straight to bytes: a dict and json.dumps cost twice as much.
    body = answer.model_dump_json(exclude=_NO_FORMS if answer.forms is None else None)
    return Response(
        body,
        media_type="application/json",
        headers={**headers, "Cache-Control": "no-store"},
    )


@dataclass(frozen=True, slots=True)
class PublicCall:
    db: AsyncSession
    store: PoolStore
    site: SiteConfig
    cors: dict[str, str]
    now: datetime
    visit: service.Visit


@asynccontextmanager
async def public_call(request: Request, public_key: str) -> AsyncIterator[PublicCall]:
    """What a snippet's call needs: a database session committed before the answer (rolled
    back on any error), the site, its CORS grant for this origin, the origin and rate checks.
    Errors raised inside carry the CORS grant too, so the snippet can read a 404 or a 429.

    The two snippet routes take no FastAPI dependencies: resolving four of them (the session,
    the store, the limiter, the clock) cost 10 % of a new visit's CPU in
    bench/tracker_sessions.py (0.94 to 0.85 ms per session): the typed state is read directly."""
    state = app_state(request)
    now = state.clock()
    try:
        async with session_scope(state.sessionmaker) as db:
            site = await _site(state, db, public_key)
            origin = request.headers.get("origin")
            cors = http.cors_headers(site, origin)
            try:
                http.check_origin(site, origin)
                await _limit(state, request, site, now)
                visit = _visit(state, request, site)
                yield PublicCall(db, state.pool_store, site, cors, now, visit)
            except AppError as exc:
                exc.headers.update(cors)
                raise
    except http.OriginRefused as refused:
        # Noted after the request's session is closed, on a connection of its own.
        await state.part(SnippetRefusals).record(
            state.engine, site_id=refused.site_id, origin=refused.origin, now=now
        )
        raise


def _visit(state: AppState, request: Request, site: SiteConfig) -> service.Visit:
    user_agent = request.headers.get("user-agent")
    return service.Visit(
        user_agent=user_agent,
        is_bot=is_bot(user_agent),
        client=ClientKey.of(http.client_address(request)),
        refusal=http.visit_refusal(site, request.headers),
        limits=state.public_limits.drain,
    )


@router.post("/sessions", response_model=SessionAnswer, openapi_extra=json_body(SessionRequest))
async def start_session(public_key: str, request: Request) -> Response:
    async with public_call(request, public_key) as call:
        data = parse(SessionRequest, await http.read_json_body(request))
        try:
            answer = await service.start_session(
                call.db, call.store, site=call.site, data=data, visit=call.visit, now=call.now
            )
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            # The visit cannot be recorded, but the page can still show the numbers of its
            # source, from the site's snapshot, rather than nothing.
            await call.db.rollback()
            log_outage(request, exc, answered="200 without recording the visit")
            answer = service.unrecorded_session(site=call.site, data=data)
    return _json(answer, call.cors, app_state(request).settings.public_url)


@router.post(
    "/sessions/{session_id}/ping",
    response_model=SessionAnswer,
    openapi_extra=json_body(PingRequest),
)
async def ping_session(public_key: str, session_id: uuid.UUID, request: Request) -> Response:
    async with public_call(request, public_key) as call:
        data = parse(PingRequest, await http.read_json_body(request))
        try:
            answer = await service.ping_session(
                call.db,
                call.store,
                site=call.site,
                session_id=session_id,
                data=data,
                visit=call.visit,
                now=call.now,
            )
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            # Without the session its source is unknown: a 503 (the snippet's "no answer")
            # keeps the numbers the page shows until the next ping.
            await call.db.rollback()
            log_outage(request, exc)
            raise unavailable() from exc
    return _json(answer, call.cors, app_state(request).settings.public_url)


@router.options("/sessions", include_in_schema=False)
@router.options("/sessions/{session_id}/ping", include_in_schema=False)
@router.options("/sessions/{session_id}/forms", include_in_schema=False)
async def preflight(public_key: str, request: Request, db: DbSession) -> Response:
    """Only needed when a custom integration posts application/json; the snippet never does."""
    site = await _site(app_state(request), db, public_key)
    cors = http.cors_headers(site, request.headers.get("origin"))
    if cors:
        cors |= {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
        }
    return Response(status_code=204, headers=cors)
