"""GA4 Measurement Protocol: an event per qualifying call for the visit's GA client id, and a
`purchase` when one of its deals is won.

The protocol answers 2xx to anything, even a malformed event, so each event is first sent to
its validation server (`/debug/mp/collect`), which answers `validationMessages`; an event it
refuses is dead with the platform's reason rather than silently lost. The api_secret rides in
the query string, as the protocol wants; the attempt log redacts it like every credential.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from crm_push.connectors.base import (
    Created,
    Job,
    api_base,
    conversion_of,
    destination_events,
    sent_value,
)
from crm_push.conversion_rule import talk_seconds
from crm_push.ratelimit import Rate
from crm_push.transport import CrmFailure, CrmHttp

DEFAULT_BASE = "https://www.google-analytics.com"
DEFAULT_CALL_EVENT = "phone_call"
DEFAULT_DEAL_EVENT = "purchase"
# Events may be backdated up to 72 hours; older ones are recorded when they arrive.
MAX_BACKDATE = timedelta(hours=71)
# Parameter values are cut at 100 characters by GA4: we cut them ourselves.
MAX_VALUE_CHARS = 100


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _text(value: str | None) -> str | None:
    return value[:MAX_VALUE_CHARS] if value else None


def event_body(job: Job, *, now: datetime) -> dict[str, Any]:
    """The Measurement Protocol request body for the job's event."""
    conversion = conversion_of(job)
    call = job.the_call
    config = job.connector.config
    won = sent_value(job)
    params: dict[str, Any] = {"engagement_time_msec": 1}
    if job.event == "deal.won":
        name = str(config.get("deal_event_name") or DEFAULT_DEAL_EVENT)
        when = won.won_at if won else now
        # GA4 counts a purchase once per transaction_id: a repeat is not a second sale.
        params["transaction_id"] = "cs_" + call.id.hex
    else:
        name = str(config.get("event_name") or DEFAULT_CALL_EVENT)
        when = call.started_at
        params["call_talk_seconds"] = talk_seconds(
            {"talk_duration": call.talk_duration, "duration": call.duration}
        )
        params["first_time_caller"] = 1 if call.first_time_caller else 0
    if won is not None:
        params["value"] = float(won.revenue)
        params["currency"] = won.currency
    for key in ("source", "medium", "campaign"):
        text = _text(getattr(call, key))
        if text:
            params[f"call_{key}"] = text
    body: dict[str, Any] = {
        "client_id": conversion.ga_client_id,
        "events": [{"name": name, "params": params}],
    }
    if now - when <= MAX_BACKDATE:
        body["timestamp_micros"] = _micros(when)
    return body


def _messages(reply_json: Any) -> list[str]:
    if not isinstance(reply_json, dict):
        return []
    found = reply_json.get("validationMessages") or []
    return [
        f"{m.get('fieldPath') or '-'}: {m.get('description') or m.get('validationCode')}"
        for m in found
        if isinstance(m, dict)
    ]


class Ga4:
    kind = "ga4"
    rate: Rate | None = None

    def events(self, config: dict[str, Any]) -> frozenset[str]:
        return destination_events(config)

    async def find(self, crm: CrmHttp, job: Job) -> Created | None:
        # GA4 keeps nothing we could look up; a repeated purchase is deduplicated by its
        # transaction_id, a repeated call event is counted twice (rare: a timeout after sending).
        return None

    async def push(self, crm: CrmHttp, job: Job) -> Created:
        if not conversion_of(job).ga_client_id:
            raise CrmFailure(
                "the call's visit has no GA client id (no _ga cookie: GA is not on the page, "
                "or the visitor declined cookies)",
                permanent=True,
            )
        config = job.connector.config
        base = api_base(config, DEFAULT_BASE)
        params = {
            "measurement_id": str(config["measurement_id"]),
            "api_secret": str(job.connector.credentials["api_secret"]),
        }
        body = event_body(job, now=crm.clock())
        checked = await crm.request(
            "POST", f"{base}/debug/mp/collect", params=params, json=body, write=False
        )
        problems = _messages(checked.json())
        if problems:
            raise CrmFailure(
                "GA4 refused the event: " + crm.excerpt("; ".join(problems)),
                status_code=checked.status_code,
                permanent=True,
            )
        await crm.request("POST", f"{base}/mp/collect", params=params, json=body, write=True)
        name = body["events"][0]["name"]
        return Created(external_id=f"event:{name}", refs={"client_id": body["client_id"]})
