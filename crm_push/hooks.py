"""POST /hooks/crm/{connector_id}: deal outcomes pushed by amoCRM (lead status webhooks) and
Bitrix24 (ONCRMDEALUPDATE). A webhook only names deals; each is read back through the CRM's
API before it is stored, and a read that fails leaves the deal to the next poll.

The endpoint needs no credentials (amoCRM does not sign its webhooks), so what it can make us
do is bounded: a per-connector rate limit, and a few CRM reads per request at most; deals
named beyond those are left to a poll scheduled at once."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl

import httpx
from fastapi import APIRouter, Request

from app.deps import Now
from app.exceptions import AppError, NotFound, TooManyRequests
from app.kit.http import read_body
from app.kit.outbound import OutboundPolicy, outbound_client
from app.models import CrmConnector
from app.ratelimit import Limit
from app.state import AppState, app_state
from crm_push import deals, deals_sync, repository
from crm_push.connectors import DEAL_SOURCES
from crm_push.connectors.base import ConnectorData
from crm_push.redaction import install_log_redaction
from crm_push.schemas import HookAnswer
from crm_push.transport import CrmHttp, secrets_of
from crm_push.worker import real_sleep_until

hooks_router = APIRouter(tags=["crm webhooks"])
MAX_BODY_BYTES = 256 * 1024
# A CRM batches a handful of changes per webhook; more than this waits for the poll.
MAX_DEALS_PER_HOOK = 10
# Bitrix24 sends one webhook per deal change; a bulk edit beyond this is caught by the poll.
HOOK_LIMIT = Limit("crm-deal-hook", requests=60, window_s=60)
# CRMs give up on (and eventually disable) webhooks that answer slowly.
READ_BACK_TIMEOUT = httpx.Timeout(5.0, connect=3.0)


class ConnectorGone(AppError):
    status_code = 410


async def _connector(state: AppState, connector_id: uuid.UUID) -> ConnectorData:
    async with state.sessionmaker() as db:
        row = await db.get(CrmConnector, connector_id)
    if row is None:
        raise NotFound(f"no CRM connector {connector_id}")
    if row.retired_at is not None:
        raise ConnectorGone(f"CRM connector {connector_id} is retired")
    if row.kind not in DEAL_SOURCES:
        raise NotFound(f"a {row.kind} connector takes no deal webhooks")
    return ConnectorData.of(row)


# Read by hand (the CRM signs or tokens the raw form); declared for the OpenAPI document.
_DEAL_HOOK_BODY: dict[str, object] = {
    "requestBody": {
        "required": True,
        "description": "amoCRM's lead-status webhook or Bitrix24's ONCRMDEALUPDATE, as a form.",
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        },
    }
}


@hooks_router.post(
    "/hooks/crm/{connector_id}", response_model=HookAnswer, openapi_extra=_DEAL_HOOK_BODY
)
async def receive_deal_webhook(connector_id: uuid.UUID, request: Request, now: Now) -> HookAnswer:
    state = app_state(request)
    connector = await _connector(state, connector_id)
    retry_after = await state.rate_limiter.hit(HOOK_LIMIT, connector.id.hex, now=now)
    if retry_after is not None:
        raise TooManyRequests(
            f"too many deal webhooks for connector {connector.id}: "
            f"try again in {retry_after} s (the periodic poll reads the deals meanwhile)",
            retry_after_s=retry_after,
        )
    form = parse_qsl(
        (await read_body(request, limit=MAX_BODY_BYTES)).decode("utf-8", errors="replace"),
        keep_blank_values=True,
    )
    named = DEAL_SOURCES[connector.kind].hook_deal_ids(form, connector)
    if not named:
        return HookAnswer(received=0, stored=0)
    deal_ids = named[:MAX_DEALS_PER_HOOK]
    install_log_redaction()
    clock = state.clock
    policy = OutboundPolicy.parse(state.settings.outbound_allow)
    async with outbound_client(policy) as http:
        crm = CrmHttp(
            client=http,
            clock=clock,
            sleep_until=real_sleep_until(clock),
            secrets=secrets_of(connector.credentials),
            timeout=READ_BACK_TIMEOUT,
            max_requests=MAX_DEALS_PER_HOOK,
        )
        found, failed = await deals_sync.read_back(crm, connector, deal_ids)
    async with state.sessionmaker() as db:
        stored = await deals.record_crm_deals(db, connector=connector, deals=found, now=now)
        if failed or len(named) > len(deal_ids):
            # The CRM will not send this webhook again: poll it soon instead.
            await repository.set_poll(db, connector_id=connector.id, deals_poll_at=now)
        await db.commit()
    return HookAnswer(received=len(named), stored=stored)
