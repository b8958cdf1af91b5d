""" "Test the connection": one real, harmless request to the connector's CRM through the
SSRF-guarded client, and its answer in one line (status and a short reason).

Harmless: amoCRM reads the account, Bitrix24 reads the webhook's own profile, a signed webhook
gets a `connector.test` event that names no call.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import httpx

from app.kit.outbound import OutboundPolicy, outbound_client
from app.models import CrmConnector
from crm_push.connectors.webhook import USER_AGENT, sign

EXCERPT_CHARS: Final = 160
TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    line: str  # what the CRM answered, in one line


def _request(connector: CrmConnector, *, now: datetime) -> httpx.Request:
    match connector.kind:
        case "amocrm":
            url = str(connector.config["base_url"]).rstrip("/") + "/api/v4/account"
            token = connector.credentials["token"]
            return httpx.Request("GET", url, headers={"Authorization": f"Bearer {token}"})
        case "bitrix24":
            url = str(connector.credentials["webhook_url"]) + "profile.json"
            return httpx.Request("POST", url, json={})
        case _:
            body = json.dumps(
                {"type": "connector.test", "timestamp": now.isoformat()}, separators=(",", ":")
            ).encode()
            msg_id = f"msg_test_{uuid.uuid4().hex}"
            stamp = int(now.timestamp())
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": sign(
                    str(connector.credentials["secret"]), msg_id, stamp, body
                ),
            }
            return httpx.Request(
                "POST", str(connector.config["url"]), content=body, headers=headers
            )


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= EXCERPT_CHARS else line[: EXCERPT_CHARS - 1] + "…"


async def check(connector: CrmConnector, *, outbound: OutboundPolicy, now: datetime) -> CheckResult:
    request = _request(connector, now=now)
    request.headers["user-agent"] = USER_AGENT
    try:
        async with outbound_client(outbound, timeout=TIMEOUT) as http:
            reply = await http.send(request)
    except httpx.HTTPError as exc:
        return CheckResult(False, _one_line(f"could not connect: {exc or type(exc).__name__}"))
    reason = f"{reply.status_code} {reply.reason_phrase}".strip()
    excerpt = _one_line(reply.text)
    ok = reply.is_success
    if connector.kind == "bitrix24" and ok:
        # Bitrix24 answers 200 with an "error" field for a revoked webhook.
        try:
            ok = "result" in reply.json()
        except ValueError:
            ok = False
    return CheckResult(ok, f"{reason}: {excerpt}" if excerpt else reason)
