"""A signed POST of the call and its attribution to any URL, per Standard Webhooks v1.

`webhook-id` is the delivery's idempotency key, the same on every retry, so the receiver
drops repeats; each retry is signed afresh, since receivers refuse timestamps over 5 minutes old.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from crm_push.connectors.base import Created, Job, unix
from crm_push.ratelimit import Rate
from crm_push.transport import CrmFailure, CrmHttp
from crm_push.webhook_body import SCHEMA_VERSION, WebhookBody, WebhookFormBody

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
        if job.lead is not None:
            content = WebhookFormBody.of(job.lead, now=now).encode()
        else:
            content = WebhookBody.of(job.event, job.the_call, now=now).encode()
        timestamp = unix(now)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": job.idempotency_key,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                str(job.connector.credentials["secret"]), job.idempotency_key, timestamp, content
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
