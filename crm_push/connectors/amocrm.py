"""amoCRM (Kommo) API v4: a call becomes an unsorted SIP entry with its lead and contact; lead
status changes come back as deals (142 won, 143 lost, the lead's price as revenue).

Idempotency: the entry's `source_uid` (and `request_id`) is the delivery's key; after an
unknown outcome the unsorted SIP entries are searched for it before creating again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.kit.phones import is_identifiable
from app.models import Call, FormLead
from crm_push.connectors.base import (
    UPDATE_EVENT,
    ConnectorData,
    Created,
    CrmDeal,
    DealStatus,
    Job,
    call_title,
    from_unix,
    lead_title,
    money,
    unix,
    update_note,
)
from crm_push.ratelimit import Rate
from crm_push.transport import CrmFailure, CrmHttp, Reply

WON, LOST = 142, 143
SOURCE_NAME = "Callsource"
SERVICE_CODE = "callsource"
PAGE_SIZE = 250
# The look-up reads the newest entries first; ours is near the top unless thousands came since.
MAX_LOOKUP_PAGES = 8
MAX_POLL_PAGES = 40
_HOOK_ID = re.compile(r"^leads\[(?:status|update|add)\]\[\d+\]\[id\]$")

# The amoCRM field codes that need no field-id look-up, and the call attribute each takes.
UTM_FIELDS: tuple[tuple[str, str], ...] = (
    ("UTM_SOURCE", "source"),
    ("UTM_MEDIUM", "medium"),
    ("UTM_CAMPAIGN", "campaign"),
    ("UTM_TERM", "term"),
    ("UTM_CONTENT", "content"),
    ("UTM_REFERRER", "referrer"),
    ("GCLID", "gclid"),
    ("YCLID", "yclid"),
)


def _headers(connector: ConnectorData) -> dict[str, str]:
    return {"Authorization": f"Bearer {connector.credentials['token']}"}


def _url(connector: ConnectorData, path: str) -> str:
    return str(connector.config["base_url"]).rstrip("/") + path


def _fields(call: Call | FormLead) -> list[dict[str, Any]]:
    fields = []
    for code, attribute in UTM_FIELDS:
        value = getattr(call, attribute)
        if value:
            fields.append({"field_code": code, "values": [{"value": str(value)[:256]}]})
    return fields


def unsorted_sip(job: Job) -> dict[str, Any]:
    """The unsorted entry for one call, as `POST /api/v4/leads/unsorted/sip` takes it."""
    call, config = job.the_call, job.connector.config
    contact: dict[str, Any] = {"name": call.caller or "Withheld number"}
    if is_identifiable(call.caller):  # "anonymous" would merge every withheld caller
        contact["custom_fields_values"] = [
            {"field_code": "PHONE", "values": [{"value": call.caller, "enum_code": "WORK"}]}
        ]
    entry: dict[str, Any] = {
        "source_uid": job.idempotency_key,
        "source_name": SOURCE_NAME,
        "created_at": unix(call.started_at),
        "request_id": job.idempotency_key,
        "metadata": {
            "uniq": job.idempotency_key,
            "from": call.caller or "anonymous",
            "phone": call.called or "",
            "called_at": unix(call.started_at),
            "duration": call.duration or 0,
            "link": call.recording_url or "",
            "service_code": SERVICE_CODE,
            "is_call_event_needed": True,
        },
        "_embedded": {
            "leads": [{"name": call_title(call), "custom_fields_values": _fields(call)}],
            "contacts": [contact],
        },
    }
    if config.get("pipeline_id"):
        entry["pipeline_id"] = int(config["pipeline_id"])
    return entry


def unsorted_form(job: Job) -> dict[str, Any]:
    """The unsorted entry for one form lead, as `POST /api/v4/leads/unsorted/forms` takes it:
    the contact with the phone and e-mail the visitor gave, the form's page and fields in the
    metadata amoCRM shows on the entry."""
    lead, config = job.the_lead, job.connector.config
    contact: dict[str, Any] = {"name": lead.name or lead.phone or lead.email or "Visitor"}
    values = []
    if is_identifiable(lead.phone):
        values.append(
            {"field_code": "PHONE", "values": [{"value": lead.phone, "enum_code": "WORK"}]}
        )
    if lead.email:
        values.append(
            {"field_code": "EMAIL", "values": [{"value": lead.email, "enum_code": "WORK"}]}
        )
    if values:
        contact["custom_fields_values"] = values
    entry: dict[str, Any] = {
        "source_uid": job.idempotency_key,
        "source_name": SOURCE_NAME,
        "created_at": unix(lead.created_at),
        "request_id": job.idempotency_key,
        "metadata": {
            "form_id": lead.form_id or "form",
            "form_name": lead.form_id or "Website form",
            "form_page": lead.url,
            "form_sent_at": unix(lead.created_at),
            "referer": lead.referrer or "",
            "visitor_uid": str(lead.visitor_id or lead.session_id or ""),
        },
        "_embedded": {
            "leads": [{"name": lead_title(lead), "custom_fields_values": _fields(lead)}],
            "contacts": [contact],
        },
    }
    if config.get("pipeline_id"):
        entry["pipeline_id"] = int(config["pipeline_id"])
    return entry


def _created(entry: dict[str, Any], *, found: bool) -> Created:
    embedded = entry.get("_embedded") or {}
    leads = embedded.get("leads") or []
    contacts = embedded.get("contacts") or []
    lead_id = leads[0].get("id") if leads else None
    refs = {
        "unsorted_uid": entry.get("uid"),
        "lead_id": lead_id,
        "contact_id": contacts[0].get("id") if contacts else None,
    }
    return Created(
        external_id=f"lead:{lead_id}" if lead_id is not None else None,
        refs={k: v for k, v in refs.items() if v is not None},
        found=found,
    )


def _embedded(reply: Reply, name: str) -> list[dict[str, Any]]:
    # amoCRM answers an empty list with 204 and no body.
    body = reply.json() if reply.status_code != 204 else None
    if not isinstance(body, dict):
        return []
    items = (body.get("_embedded") or {}).get(name) or []
    return [item for item in items if isinstance(item, dict)]


def _deal(lead: dict[str, Any], currency: str) -> CrmDeal:
    status_id = lead.get("status_id")
    status: DealStatus = "won" if status_id == WON else "lost" if status_id == LOST else "open"
    return CrmDeal(
        deal_id=str(lead["id"]),
        lead_ref=f"lead:{lead['id']}",
        status=status,
        revenue=money(lead.get("price")),
        currency=currency,
        updated_at=from_unix(lead.get("updated_at")),
    )


class AmoCrm:
    kind = "amocrm"
    rate: Rate | None = Rate(per_s=7.0)

    def events(self, config: dict[str, Any]) -> frozenset[str]:
        # A lead needs the call's outcome and duration, and amoCRM has no way to update an
        # unsorted entry: one push, when the call has ended.
        # A form lead is one push too: unsorted forms. The lead the call's entry made is
        # updated when its tags or status change on the call's page (unless turned off).
        if config.get("send_updates", True):
            return frozenset({"call.attributed", "form", UPDATE_EVENT})
        return frozenset({"call.attributed", "form"})

    async def find(self, crm: CrmHttp, job: Job) -> Created | None:
        created_at = unix(job.at)
        category = "forms" if job.lead is not None else "sip"
        for page in range(1, MAX_LOOKUP_PAGES + 1):
            reply = await crm.request(
                "GET",
                _url(job.connector, "/api/v4/leads/unsorted"),
                write=False,
                headers=_headers(job.connector),
                params=[
                    ("filter[category][]", category),
                    ("order[created_at]", "desc"),
                    ("limit", PAGE_SIZE),
                    ("page", page),
                ],
            )
            entries = _embedded(reply, "unsorted")
            for entry in entries:
                if entry.get("source_uid") == job.idempotency_key:
                    return _created(entry, found=True)
            oldest = min((int(e.get("created_at") or 0) for e in entries), default=0)
            if len(entries) < PAGE_SIZE or oldest < created_at:
                return None
        return None

    async def push(self, crm: CrmHttp, job: Job) -> Created:
        if job.event == UPDATE_EVENT:
            return await self._update(crm, job)
        form = job.lead is not None
        reply = await crm.request(
            "POST",
            _url(job.connector, "/api/v4/leads/unsorted/" + ("forms" if form else "sip")),
            write=True,
            headers=_headers(job.connector),
            json=[unsorted_form(job) if form else unsorted_sip(job)],
        )
        entries = _embedded(reply, "unsorted")
        if not entries:
            raise CrmFailure(
                f"no unsorted entry in the answer: {crm.last.excerpt}",
                status_code=reply.status_code,
                created=None,
            )
        return _created(entries[0], found=False)

    async def _update(self, crm: CrmHttp, job: Job) -> Created:
        """The call's lead gets the call's tags (`PATCH /api/v4/leads/{id}`, the list replaces
        the lead's tags) and a common note saying the lead status and tags."""
        lead_id = lead_of(job)
        await crm.request(
            "PATCH",
            _url(job.connector, f"/api/v4/leads/{lead_id}"),
            write=True,
            headers=_headers(job.connector),
            json={"_embedded": {"tags": [{"name": tag} for tag in job.tags]}},
        )
        reply = await crm.request(
            "POST",
            _url(job.connector, f"/api/v4/leads/{lead_id}/notes"),
            write=True,
            headers=_headers(job.connector),
            json=[{"note_type": "common", "params": {"text": update_note(job)}}],
        )
        notes = _embedded(reply, "notes")
        refs: dict[str, Any] = {"lead_id": lead_id}
        if notes and notes[0].get("id") is not None:
            refs["note_id"] = notes[0]["id"]
        return Created(external_id=f"lead:{lead_id}", refs=refs)

    # --- deals coming back ----------------------------------------------------------------

    def hook_deal_ids(self, form: Sequence[tuple[str, str]], connector: ConnectorData) -> list[str]:
        # amoCRM does not sign its webhooks: the ids are only a hint, and each lead is read
        # back through the API with our token before anything is stored.
        ids = [value for key, value in form if _HOOK_ID.match(key) and value.isdigit()]
        return list(dict.fromkeys(ids))

    async def fetch_deal(
        self, crm: CrmHttp, connector: ConnectorData, deal_id: str
    ) -> CrmDeal | None:
        try:
            reply = await crm.request(
                "GET",
                _url(connector, f"/api/v4/leads/{int(deal_id)}"),
                write=False,
                headers=_headers(connector),
            )
        except CrmFailure as failure:
            if failure.status_code == 404:
                return None
            raise
        lead = reply.json() if reply.status_code != 204 else None
        if not isinstance(lead, dict) or "id" not in lead:
            return None
        return _deal(lead, _currency(connector))

    async def changed_deals(
        self, crm: CrmHttp, connector: ConnectorData, *, since: datetime
    ) -> list[CrmDeal]:
        deals: list[CrmDeal] = []
        for page in range(1, MAX_POLL_PAGES + 1):
            reply = await crm.request(
                "GET",
                _url(connector, "/api/v4/leads"),
                write=False,
                headers=_headers(connector),
                params=[
                    ("filter[updated_at][from]", unix(since)),
                    ("order[updated_at]", "asc"),
                    ("limit", PAGE_SIZE),
                    ("page", page),
                ],
            )
            leads = _embedded(reply, "leads")
            deals.extend(_deal(lead, _currency(connector)) for lead in leads if "id" in lead)
            if len(leads) < PAGE_SIZE:
                break
        return deals


def lead_of(job: Job) -> int:
    """The id of the lead the call's unsorted entry made (a `call.updated` job's record)."""
    record = job.record
    lead_id = (record.refs.get("lead_id") if record is not None else None) or (
        record.external_id.removeprefix("lead:") if record and record.external_id else None
    )
    if lead_id is None or not str(lead_id).isdigit():
        raise CrmFailure(
            "the call's delivery left no amoCRM lead id to update", created=False, permanent=True
        )
    return int(lead_id)


def _currency(connector: ConnectorData) -> str:
    # amoCRM keeps one currency per account, not per lead.
    return str(connector.config.get("currency") or "RUB")
