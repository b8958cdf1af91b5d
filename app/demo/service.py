"""The demo's moving parts: a test call sent as the PBX would send it, and a CRM inbox that
receives leads the way a customer's webhook endpoint would.

The test call is a real, signed generic-PBX webhook posted to our own /hooks/pbx/{id} (in
process, through the ASGI app), so it takes exactly the path a production call takes:
signature check, raw-event store, call merge, attribution, outbox.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls import service as calls_service
from app.demo.seed import DEMO_INBOX_PATH, find_demo_site
from app.exceptions import AppError, NotFound, Unauthorized
from app.i18n import gettext
from app.models import Call, CrmConnector, PbxIntegration, Site
from app.state import state_of
from crm_push import service as crm_service
from pbx_webhooks import service as pbx_service
from pbx_webhooks.providers.generic import sign

TEST_CALL_SECONDS = 95
RING_SECONDS = 5
SIGNATURE_TOLERANCE = timedelta(minutes=5)
INBOX_SIZE = 50


class NoDemo(NotFound):
    """The demo pages exist only where `callsource demo` created the demo site."""


class DemoCallRefused(AppError):
    """Our own webhook endpoint refused the test call: a bug or a misconfigured demo."""

    status_code = 502


async def demo_site(db: AsyncSession) -> Site:
    site = await find_demo_site(db)
    if site is None:
        raise NoDemo(gettext("there is no demo here: run `callsource demo` to get one"))
    return site


async def demo_pbx(db: AsyncSession, site: Site) -> PbxIntegration:
    for integration in await pbx_service.list_integrations(db, site_id=site.id):
        if integration.provider == "generic":
            return integration
    raise NoDemo("the demo site has no generic PBX integration")


async def demo_connectors(db: AsyncSession, site: Site) -> list[CrmConnector]:
    return [
        c
        for c in await crm_service.list_connectors(db, site_id=site.id)
        if c.kind == "webhook" and str(c.config.get("url", "")).endswith(DEMO_INBOX_PATH)
    ]


def random_caller() -> str:
    # Moscow mobile numbers of a range no operator hands out for real (+7 900 0xx-xx-xx).
    return f"+7900{secrets.randbelow(10**7):07d}"


def _signed(secret: str, payload: dict[str, Any], *, now: datetime) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    msg_id = f"msg_{uuid.uuid4().hex}"
    timestamp = str(int(now.timestamp()))
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }
    return body, headers


async def place_test_call(
    app: FastAPI, *, integration: PbxIntegration, caller: str, called: str, now: datetime
) -> str:
    """Send started, answered and ended for one call, as a PBX would; its provider call id.

    The events are stamped from `now` forward: a call can only be matched to a visit that
    held the number when it started, and the visitor is on the page now.
    """
    call_id = f"demo-{uuid.uuid4().hex[:12]}"
    secret = str(integration.credentials["secret"])
    answered = now + timedelta(seconds=RING_SECONDS)
    ended = now + timedelta(seconds=TEST_CALL_SECONDS)
    events: list[dict[str, object]] = [
        {"event": "call.started", "timestamp": now.isoformat()},
        {"event": "call.answered", "timestamp": answered.isoformat()},
        {
            "event": "call.ended",
            "timestamp": ended.isoformat(),
            "status": "answered",
            "duration": TEST_CALL_SECONDS,
            "talk_duration": TEST_CALL_SECONDS - RING_SECONDS,
        },
    ]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://callsource.local") as http:
        for event in events:
            payload: dict[str, object] = {"call_id": call_id, "caller": caller, "called": called}
            payload |= event
            body, headers = _signed(secret, payload, now=now)
            response = await http.post(
                f"/hooks/pbx/{integration.id}", content=body, headers=headers
            )
            if response.status_code != 200:
                raise DemoCallRefused(
                    f"the PBX webhook answered {response.status_code}: {response.text}"
                )
    return call_id


async def find_call(db: AsyncSession, *, site: Site, provider_call_id: str) -> Call | None:
    for call in await calls_service.list_calls(
        db, site_id=site.id, since=None, until=None, limit=50
    ):
        if call.provider_call_id == provider_call_id:
            return call
    return None


# --- the CRM inbox -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lead:
    webhook_id: str
    received_at: datetime
    event: str
    call: dict[str, Any]
    body: str


@dataclass(slots=True)
class Inbox:
    """The last leads received, in memory: a demo needs no table (and a restart empties it)."""

    leads: deque[Lead] = field(default_factory=lambda: deque(maxlen=INBOX_SIZE))

    def add(self, lead: Lead) -> bool:
        """False for a repeat: a receiver drops what it has (same webhook-id)."""
        if any(known.webhook_id == lead.webhook_id for known in self.leads):
            return False
        self.leads.appendleft(lead)
        return True


def inbox(app: FastAPI) -> Inbox:
    return state_of(app).part(Inbox)


def verify(secrets_: list[str], headers: dict[str, str], body: bytes, *, now: datetime) -> str:
    """The webhook-id of a Standard Webhooks message signed with one of `secrets_`, or 401.

    Written out here rather than imported, as a receiver on the customer's side would: the
    signed content is "{id}.{timestamp}.{body}", HMAC-SHA256 keyed with the base64 after whsec_.
    """
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "").split()
    if not (msg_id and timestamp.isdigit() and signatures):
        raise Unauthorized("missing webhook-id, webhook-timestamp or webhook-signature")
    sent = datetime.fromtimestamp(int(timestamp), tz=now.tzinfo)
    if abs(now - sent) > SIGNATURE_TOLERANCE:
        raise Unauthorized("webhook-timestamp is too far from now")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    for secret in secrets_:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(expected.encode(), s.encode()) for s in signatures):
            return msg_id
    raise Unauthorized("webhook-signature does not match")


def lead_of(msg_id: str, body: bytes, *, now: datetime) -> Lead:
    try:
        payload = json.loads(body)
        call = payload["data"]["call"]
        event = str(payload.get("type", ""))
    except (ValueError, KeyError, TypeError):
        payload, call, event = None, {}, "(unreadable)"
    pretty = json.dumps(payload, indent=2, ensure_ascii=False) if payload is not None else ""
    return Lead(
        webhook_id=msg_id,
        received_at=now,
        event=event,
        call=call if isinstance(call, dict) else {},
        body=pretty[:20_000],
    )
