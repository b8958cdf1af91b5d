"""A signed POST of the call and its attribution to any URL, per Standard Webhooks v1.

`webhook-id` is the delivery's idempotency key, the same on every retry, so the receiver
drops repeats; each retry is signed afresh, since receivers refuse timestamps over 5 minutes old.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from crm_push.connectors.base import UPDATE_EVENT, Created, Job, unix
from crm_push.ratelimit import Rate
from crm_push.transport import CrmFailure, CrmHttp
from crm_push.webhook_body import (
    SCHEMA_VERSION,
    WebhookBody,
    WebhookFormBody,
    WebhookUpdateBody,
)

DEFAULT_EVENTS = ("call.attributed",)
USER_AGENT = "Callsource-Webhooks/1"
# The body's schema version, outside the signed body so that announcing it changed nothing
# receivers of version 1 already verify and parse.
SCHEMA_HEADER = "x-callsource-schema"


def signing_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


class SignedWebhook:
    kind = "webhook"
    rate: Rate | None = None

    def events(self, config: dict[str, Any]) -> frozenset[str]:
        return frozenset(config.get("events") or DEFAULT_EVENTS)

    async def find(self, crm: CrmHttp, job: Job) -> Created | None:
        # Nothing to look up: the receiver deduplicates by webhook-id.
        return None

    async def push(self, crm: CrmHttp, job: Job) -> Created:
        now = crm.clock()
        # The call in the webhook's own schema, not the admin API's view (crm_push.webhook_body).
        msg_id = job.idempotency_key
        if job.lead is not None:
            content = WebhookFormBody.of(job.lead, now=now).encode()
        elif job.event == UPDATE_EVENT:
            changed_at = job.queued_at or now
            content = WebhookUpdateBody.of(
                job.the_call, tags=job.tags, changed_at=changed_at, now=now
            ).encode()
            # One id per change, the same on its retries: receivers drop repeated ids, and a
            # later change must not look like a repeat of the first.
            msg_id = f"{job.idempotency_key}_{int(changed_at.timestamp() * 1000)}"
        else:
            content = WebhookBody.of(job.event, job.the_call, now=now).encode()
        timestamp = unix(now)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                str(job.connector.credentials["secret"]), msg_id, timestamp, content
            ),
            SCHEMA_HEADER: str(SCHEMA_VERSION),
        }
        try:
            await crm.request(
                "POST",
                str(job.connector.config["url"]),
                write=True,
                content=content,
                headers=headers,
            )
        except CrmFailure as failure:
            # A receiver's 4xx is often a deploy in progress: retry everything but 410 Gone
            # (and an address we refuse to connect to, which only configuration changes).
            failure.permanent = failure.gone or failure.refused
            raise
        return Created(external_id=None)
