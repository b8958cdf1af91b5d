"""POST /hooks/pbx/{integration_id}: verify, store once, answer fast, fold into the call."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.deps import Now
from app.exceptions import AppError, NotFound
from app.kit.http import read_body
from app.state import AppState, app_state
from pbx_webhooks import inbox, refusals
from pbx_webhooks.events import (
    InboundRequest,
    MalformedBody,
    MalformedEvent,
    SignatureInvalid,
    check_times,
)
from pbx_webhooks.integrations import Hook, HookCache
from pbx_webhooks.providers import get_provider

router = APIRouter(tags=["pbx webhooks"])
MAX_BODY_BYTES = 256 * 1024


# The body is read by hand (each provider has its own format and signs the raw bytes); this
# declares the generic provider's, the contract's, for the OpenAPI document.
_GENERIC_EVENT: dict[str, object] = {
    "type": "object",
    "required": ["event", "call_id", "called", "timestamp"],
    "properties": {
        "event": {"type": "string", "enum": ["call.started", "call.answered", "call.ended"]},
        "call_id": {"type": "string"},
        "caller": {"type": ["string", "null"]},
        "called": {"type": "string"},
        "timestamp": {
            "type": ["string", "number"],
            "description": "ISO-8601 (UTC when without an offset) or unix seconds",
        },
        "status": {"type": "string", "enum": ["answered", "missed", "busy", "failed"]},
        "duration": {"type": "integer", "minimum": 0},
        "talk_duration": {"type": "integer", "minimum": 0},
        "recording_url": {"type": "string", "format": "uri"},
    },
}
_WEBHOOK_BODY: dict[str, object] = {
    "requestBody": {
        "required": True,
        "description": "The provider's own format (Twilio, Zadarma, Mango, Telnyx) exactly as it "
        "sends it; for the generic provider, this event, as JSON or as a form.",
        "content": {
            "application/json": {"schema": _GENERIC_EVENT},
            "application/x-www-form-urlencoded": {"schema": _GENERIC_EVENT},
        },
    }
}


class IntegrationGone(AppError):
    status_code = 410


def _inbound(request: Request, body: bytes, subpath: str, public_url: str) -> InboundRequest:
    # Providers sign the URL they called: the public one, not what the proxy forwarded to us.
    query = request.url.query
    url = public_url + request.url.path + (f"?{query}" if query else "")
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return InboundRequest(
        method=request.method,
        url=url,
        subpath=subpath.strip("/"),
        query=dict(request.query_params),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        content_type=content_type,
    )


async def _hook(state: AppState, integration_id: uuid.UUID) -> Hook:
    async with state.sessionmaker() as db:
        hook = await state.part(HookCache).get(db, integration_id)
    if hook is None:
        raise NotFound(f"no PBX integration {integration_id}")
    if hook.retired:
        raise IntegrationGone(f"PBX integration {integration_id} is retired")
    return hook


async def receive_webhook(
    integration_id: uuid.UUID, request: Request, now: Now, subpath: str = ""
) -> Response:
    state = app_state(request)
    hook = await _hook(state, integration_id)
    provider = get_provider(hook.provider)
    inbound = _inbound(
        request,
        await read_body(request, limit=MAX_BODY_BYTES),
        subpath,
        state.settings.public_url,
    )
    echo = provider.echo(inbound)
    if echo is not None:
        return PlainTextResponse(echo)
    credentials = dict(hook.credentials)
    engine, sessionmaker = state.engine, state.sessionmaker
    try:
        provider.verify(inbound, credentials, now=now)
    except SignatureInvalid as exc:
        await refusals.record(
            engine, integration_id=hook.integration_id, reason=exc.detail, now=now
        )
        raise
    try:
        events = provider.parse(inbound, credentials, now=now)
        check_times(events, now=now)
    except (MalformedBody, MalformedEvent) as exc:
        await inbox.store_rejected(engine, hook, inbound, error=exc.detail, now=now)
        raise
    new, repeated = await inbox.receive(
        engine, sessionmaker, hook=hook, request=inbound, events=events, now=now
    )
    return JSONResponse({"received": new, "repeated": repeated, "ignored": not events})


# POST carries the events; GET only answers Zadarma's URL check (zd_echo). Mango appends
# /events/call, /events/summary, /events/recording to the registered URL.
for _path, _suffix in (
    ("/hooks/pbx/{integration_id}", ""),
    ("/hooks/pbx/{integration_id}/{subpath:path}", "_subpath"),
):
    router.add_api_route(
        _path,
        receive_webhook,
        methods=["POST"],
        operation_id=f"receive_pbx_webhook{_suffix}",
        openapi_extra=_WEBHOOK_BODY,
    )
    router.add_api_route(_path, receive_webhook, methods=["GET"], include_in_schema=False)
