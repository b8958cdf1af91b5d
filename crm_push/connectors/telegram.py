"""Alerts to a Telegram chat through the Bot API's sendMessage.

`POST {api_base}/bot<token>/sendMessage` with JSON `{chat_id, text, parse_mode: "HTML"}`;
the answer is `{"ok": true, "result": Message}` or `{"ok": false, "error_code",
"description", "parameters"?}`. A 429 says in `parameters.retry_after` how many seconds to
wait. A 400 ("chat not found"), 401 (a revoked token) or 403 ("bot was blocked by the user",
"bot was kicked") does not change with time: the delivery is dead with Telegram's reason, and
is retried from the Integrations page once the chat or the bot is fixed.
"""

from __future__ import annotations

import json
from typing import Any

from crm_push.connectors.base import Created, Job
from crm_push.connectors.messages import message_for, outbox_events
from crm_push.ratelimit import Rate
from crm_push.transport import CrmFailure, CrmHttp

DEFAULT_API_BASE = "https://api.telegram.org"
PERMANENT = frozenset({400, 401, 403, 404})


def send_message_url(api_base: str | None, token: str) -> str:
    return f"{(api_base or DEFAULT_API_BASE).rstrip('/')}/bot{token}/sendMessage"


def _answer(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class TelegramAlerts:
    kind = "telegram"
    # Telegram's limit: about one message a second to one chat (20 a minute to a group).
    rate: Rate | None = Rate(per_s=1.0, burst=3)

    def events(self, config: dict[str, Any]) -> frozenset[str]:
        return outbox_events(list(config.get("events") or ()))

    async def find(self, crm: CrmHttp, job: Job) -> Created | None:
        # The Bot API cannot list what a bot sent: an unknown outcome is sent again.
        return None

    async def push(self, crm: CrmHttp, job: Job) -> Created:
        config = job.connector.config
        message = message_for(job, public_url=crm.public_url)
        body = {"chat_id": config["chat_id"], "text": message.telegram(), "parse_mode": "HTML"}
        url = send_message_url(config.get("api_base"), str(job.connector.credentials["bot_token"]))
        try:
            reply = await crm.request("POST", url, write=True, json=body)
        except CrmFailure as failure:
            raise _explained(crm, failure) from None
        answer = _answer(reply.body)
        if answer.get("ok") is not True:
            raise CrmFailure(
                f"Telegram did not accept the message: {crm.excerpt(reply.body.decode())}",
                status_code=reply.status_code,
                created=None,
            )
        result = answer.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return Created(external_id=f"message:{message_id}" if message_id is not None else None)


def _explained(crm: CrmHttp, failure: CrmFailure) -> CrmFailure:
    """Telegram's own description as the reason; its retry_after as the wait."""
    if failure.reply is None:
        return failure
    answer = _answer(failure.reply.body)
    description = answer.get("description")
    status = failure.status_code
    if isinstance(description, str) and description:
        failure.message = crm.excerpt(f"Telegram {status}: {description}")
    parameters = answer.get("parameters")
    if isinstance(parameters, dict):
        retry_after = parameters.get("retry_after")
        if isinstance(retry_after, (int, float)) and retry_after >= 0:
            failure.retry_after_s = float(retry_after)
    if status in PERMANENT:
        failure.permanent = True
    return failure
