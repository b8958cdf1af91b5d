"""Bitrix24 through an incoming webhook: a new caller becomes a lead (`crm.lead.add`), a caller
the CRM already knows (`crm.duplicate.findbycomm`) gets the call added to that record as a call
activity; deals come back through the outgoing `ONCRMDEALUPDATE` webhook and `crm.deal.get`.

Idempotency: ORIGINATOR_ID + ORIGIN_ID, Bitrix24's documented external key, on the lead or
activity; after an unknown outcome both are looked up before creating again.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.exceptions import BadRequest, Unauthorized
from app.kit.clock import isoformat_z
from app.kit.phones import is_identifiable
from app.models import Call, FormLead
from crm_push.connectors.base import (
    ORIGINATOR,
    UPDATE_EVENT,
    ConnectorData,
    Created,
    CrmDeal,
    DealStatus,
    Job,
    call_title,
    lead_details,
    lead_title,
    money,
    source_line,
    update_note,
)
from crm_push.ratelimit import Rate
from crm_push.transport import CrmFailure, CrmHttp

OWNER_LEAD, OWNER_CONTACT = 1, 3
ACTIVITY_CALL, DIRECTION_INCOMING = 2, 1
DEAL_EVENTS = frozenset({"ONCRMDEALUPDATE", "ONCRMDEALADD"})
DEAL_FIELDS = ["ID", "STAGE_SEMANTIC_ID", "OPPORTUNITY", "CURRENCY_ID", "LEAD_ID", "DATE_MODIFY"]
MAX_POLL_PAGES = 40
# Our lead statuses as Bitrix24's default lead stages (crm.status.list, ENTITY_ID STATUS):
# NEW "Unprocessed", IN_PROCESS "In progress", PROCESSED "Processed", JUNK "Junk lead".
LEAD_STATUSES = {
    "new": "NEW",
    "in_progress": "IN_PROCESS",
    "qualified": "PROCESSED",
    "spam": "JUNK",
}
UTM_FIELDS = (
    ("UTM_SOURCE", "source"),
    ("UTM_MEDIUM", "medium"),
    ("UTM_CAMPAIGN", "campaign"),
    ("UTM_TERM", "term"),
    ("UTM_CONTENT", "content"),
)


def _key_filter(job: Job) -> dict[str, str]:
    return {"ORIGINATOR_ID": ORIGINATOR, "ORIGIN_ID": job.idempotency_key}


def _details(call: Call) -> str:
    """What the record's comment says: Bitrix24 has no standard field for click ids."""
    lines = [f"Source: {source_line(call)}"]
    for label, value in (
        ("Landing page", call.landing_url),
        ("Referrer", call.referrer),
        ("GCLID", call.gclid),
        ("YCLID", call.yclid),
        ("Duration", f"{call.duration} s" if call.duration is not None else None),
        ("Outcome", call.outcome),
        ("Recording", call.recording_url),
    ):
        if value:
            lines.append(f"{label}: {value}")
    return "\n".join(lines)


def lead_fields(job: Job) -> dict[str, Any]:
    """`crm.lead.add`'s fields for a call from someone the CRM does not know yet."""
    call = job.the_call
    fields: dict[str, Any] = {
        "TITLE": call_title(call),
        "SOURCE_ID": "CALL",
        "SOURCE_DESCRIPTION": source_line(call),
        "COMMENTS": _details(call),
        **_key_filter(job),
    }
    if is_identifiable(call.caller):
        fields["PHONE"] = [{"VALUE": call.caller, "VALUE_TYPE": "WORK"}]
    for field, attribute in UTM_FIELDS:
        value = getattr(call, attribute)
        if value:
            fields[field] = str(value)[:255]
    return fields


def form_lead_fields(job: Job) -> dict[str, Any]:
    """`crm.lead.add`'s fields for a form lead: a web lead with the visitor's phone, e-mail and
    name, the form's fields in the comment."""
    lead = job.the_lead
    fields: dict[str, Any] = {
        "TITLE": lead_title(lead),
        "SOURCE_ID": "WEB",
        "SOURCE_DESCRIPTION": source_line(lead),
        "COMMENTS": _form_details(lead),
        **_key_filter(job),
    }
    if lead.name:
        fields["NAME"] = lead.name
    if is_identifiable(lead.phone):
        fields["PHONE"] = [{"VALUE": lead.phone, "VALUE_TYPE": "WORK"}]
    if lead.email:
        fields["EMAIL"] = [{"VALUE": lead.email, "VALUE_TYPE": "WORK"}]
    for field, attribute in UTM_FIELDS:
        value = getattr(lead, attribute)
        if value:
            fields[field] = str(value)[:255]
    return fields


def _form_details(lead: FormLead) -> str:
    lines = [f"Source: {source_line(lead)}"]
    for label, value in (
        ("Landing page", lead.landing_url),
        ("Referrer", lead.referrer),
        ("GCLID", lead.gclid),
        ("YCLID", lead.yclid),
        *lead_details(lead),
    ):
        if value:
            lines.append(f"{label}: {value}")
    return "\n".join(lines)


def activity_fields(job: Job, *, owner_type: int, owner_id: int) -> dict[str, Any]:
    """`crm.activity.add`'s fields: the call on the timeline of a known contact or lead."""
    call = job.the_call
    end = call.ended_at or call.started_at
    return {
        "OWNER_TYPE_ID": owner_type,
        "OWNER_ID": owner_id,
        "TYPE_ID": ACTIVITY_CALL,
        "DIRECTION": DIRECTION_INCOMING,
        "SUBJECT": call_title(call),
        "START_TIME": isoformat_z(call.started_at),
        "END_TIME": isoformat_z(end),
        "COMPLETED": "Y",
        "COMMUNICATIONS": [
            {"VALUE": call.caller, "ENTITY_ID": owner_id, "ENTITY_TYPE_ID": owner_type}
        ],
        "DESCRIPTION": _details(call),
        **_key_filter(job),
    }


async def _call(
    crm: CrmHttp, connector: ConnectorData, method: str, body: Any, *, write: bool
) -> Any:
    url = str(connector.credentials["webhook_url"]) + f"{method}.json"
    try:
        reply = await crm.request("POST", url, write=write, json=body)
    except CrmFailure as failure:
        if failure.status_code == 503:
            # QUERY_LIMIT_EXCEEDED: the portal's bucket refused the request before doing it.
            failure.created = (
                False if "QUERY_LIMIT_EXCEEDED" in failure.message else failure.created
            )
        raise
    answer = reply.json()
    if not isinstance(answer, dict) or "result" not in answer:
        error = answer.get("error") if isinstance(answer, dict) else None
        raise CrmFailure(
            f"{method}: {error or 'no result'}: {crm.last.excerpt}",
            status_code=reply.status_code,
            created=None if write else False,
        )
    return answer


def _ids(result: Any) -> list[int]:
    if not isinstance(result, list):
        return []
    return [int(item) for item in result if str(item).isdigit()]


class Bitrix24:
    kind = "bitrix24"
    # Cloud portals: a leaky bucket of 2 requests/s per portal.
    rate: Rate | None = Rate(per_s=2.0)

    def events(self, config: dict[str, Any]) -> frozenset[str]:
        if config.get("send_updates", True):
            return frozenset({"call.attributed", "form", UPDATE_EVENT})
        return frozenset({"call.attributed", "form"})

    async def find(self, crm: CrmHttp, job: Job) -> Created | None:
        leads = await _call(
            crm,
            job.connector,
            "crm.lead.list",
            {"filter": _key_filter(job), "select": ["ID"]},
            write=False,
        )
        for lead in leads["result"] or []:
            return Created(f"lead:{lead['ID']}", {"lead_id": int(lead["ID"])}, found=True)
        activities = await _call(
            crm,
            job.connector,
            "crm.activity.list",
            {"filter": _key_filter(job), "select": ["ID", "OWNER_ID", "OWNER_TYPE_ID"]},
            write=False,
        )
        for activity in activities["result"] or []:
            refs = {
                "activity_id": int(activity["ID"]),
                "owner_type_id": int(activity.get("OWNER_TYPE_ID") or 0),
                "owner_id": int(activity.get("OWNER_ID") or 0),
            }
            return Created(f"activity:{activity['ID']}", refs, found=True)
        return None

    async def push(self, crm: CrmHttp, job: Job) -> Created:
        if job.event == UPDATE_EVENT:
            return await self._update(crm, job)
        if job.lead is not None:
            # A form is a request of its own: always a new web lead (Bitrix24's own duplicate
            # control merges it with the contact, where the portal has it on).
            answer = await _call(
                crm,
                job.connector,
                "crm.lead.add",
                {"fields": form_lead_fields(job), "params": {"REGISTER_SONET_EVENT": "Y"}},
                write=True,
            )
            lead_id = int(answer["result"])
            return Created(f"lead:{lead_id}", {"lead_id": lead_id})
        # A withheld caller is nobody in particular: never matched to another's record.
        known = is_identifiable(job.the_call.caller)
        owner = await self._known_record(crm, job) if known else None
        if owner is not None:
            owner_type, owner_id = owner
            answer = await _call(
                crm,
                job.connector,
                "crm.activity.add",
                {"fields": activity_fields(job, owner_type=owner_type, owner_id=owner_id)},
                write=True,
            )
            activity_id = int(answer["result"])
            refs = {"activity_id": activity_id, "owner_type_id": owner_type, "owner_id": owner_id}
            return Created(f"activity:{activity_id}", refs)
        answer = await _call(
            crm,
            job.connector,
            "crm.lead.add",
            {"fields": lead_fields(job), "params": {"REGISTER_SONET_EVENT": "Y"}},
            write=True,
        )
        lead_id = int(answer["result"])
        return Created(f"lead:{lead_id}", {"lead_id": lead_id})

    async def _update(self, crm: CrmHttp, job: Job) -> Created:
        """The call's lead gets its status (`crm.lead.update`, STATUS_ID) and a timeline comment
        with the status and tags (leads have no tags field). A call that was added to a known
        contact's timeline gets the comment on the contact: contacts have no status."""
        owner_type, owner_id = record_owner(job)
        if owner_type == OWNER_LEAD:
            status = LEAD_STATUSES[job.the_call.lead_status or "new"]
            await _call(
                crm,
                job.connector,
                "crm.lead.update",
                {"id": owner_id, "fields": {"STATUS_ID": status}},
                write=True,
            )
        answer = await _call(
            crm,
            job.connector,
            "crm.timeline.comment.add",
            {
                "fields": {
                    "ENTITY_ID": owner_id,
                    "ENTITY_TYPE": "lead" if owner_type == OWNER_LEAD else "contact",
                    "COMMENT": update_note(job),
                }
            },
            write=True,
        )
        refs = {"owner_type_id": owner_type, "owner_id": owner_id, "comment_id": answer["result"]}
        return Created(f"{'lead' if owner_type == OWNER_LEAD else 'contact'}:{owner_id}", refs)

    async def _known_record(self, crm: CrmHttp, job: Job) -> tuple[int, int] | None:
        """The contact (else the latest lead) with the caller's number, if the CRM has one."""
        answer = await _call(
            crm,
            job.connector,
            "crm.duplicate.findbycomm",
            {"type": "PHONE", "values": [job.the_call.caller]},
            write=False,
        )
        found = answer["result"] if isinstance(answer["result"], dict) else {}
        contacts, leads = _ids(found.get("CONTACT")), _ids(found.get("LEAD"))
        if contacts:
            return OWNER_CONTACT, min(contacts)
        if leads:
            return OWNER_LEAD, max(leads)
        return None

    # --- deals coming back ----------------------------------------------------------------

    def hook_deal_ids(self, form: Sequence[tuple[str, str]], connector: ConnectorData) -> list[str]:
        fields = dict(form)
        expected = connector.credentials.get("application_token")
        if not expected:
            raise Unauthorized(
                "this Bitrix24 connector has no application_token: set the outgoing webhook's "
                "token on the connector (PATCH) before pointing the webhook here"
            )
        presented = fields.get("auth[application_token]", "")
        if not hmac.compare_digest(presented.encode(), str(expected).encode()):
            raise Unauthorized("auth[application_token] does not match this connector's")
        event = fields.get("event", "").upper()
        if event not in DEAL_EVENTS:
            return []
        deal_id = fields.get("data[FIELDS][ID]", "")
        if not deal_id.isdigit():
            raise BadRequest("data[FIELDS][ID]: missing or not a deal id")
        return [deal_id]

    async def fetch_deal(
        self, crm: CrmHttp, connector: ConnectorData, deal_id: str
    ) -> CrmDeal | None:
        try:
            answer = await _call(crm, connector, "crm.deal.get", {"id": int(deal_id)}, write=False)
        except CrmFailure as failure:
            if failure.status_code in (400, 404):  # "Not found"
                return None
            raise
        deal = answer["result"]
        return _deal(deal) if isinstance(deal, dict) and deal.get("ID") else None

    async def changed_deals(
        self, crm: CrmHttp, connector: ConnectorData, *, since: datetime
    ) -> list[CrmDeal]:
        deals: list[CrmDeal] = []
        start: int | None = 0
        for _page in range(MAX_POLL_PAGES):
            if start is None:
                break
            answer = await _call(
                crm,
                connector,
                "crm.deal.list",
                {
                    "filter": {">=DATE_MODIFY": isoformat_z(since)},
                    "select": DEAL_FIELDS,
                    "order": {"DATE_MODIFY": "ASC"},
                    "start": start,
                },
                write=False,
            )
            deals.extend(_deal(d) for d in answer["result"] or [] if isinstance(d, dict))
            start = int(answer["next"]) if answer.get("next") is not None else None
        return deals


def record_owner(job: Job) -> tuple[int, int]:
    """(owner type, id) of the record the call's delivery made or joined: its new lead, or the
    contact or lead whose timeline got the call activity."""
    record = job.record
    refs = record.refs if record is not None else {}
    if refs.get("lead_id"):
        return OWNER_LEAD, int(refs["lead_id"])
    if refs.get("owner_id") and int(refs.get("owner_type_id") or 0) in (OWNER_LEAD, OWNER_CONTACT):
        return int(refs["owner_type_id"]), int(refs["owner_id"])
    raise CrmFailure(
        "the call's delivery left no Bitrix24 lead or contact to update",
        created=False,
        permanent=True,
    )


def _deal(deal: dict[str, Any]) -> CrmDeal:
    semantic = str(deal.get("STAGE_SEMANTIC_ID") or "P")
    status: DealStatus = "won" if semantic == "S" else "lost" if semantic == "F" else "open"
    lead_id = str(deal.get("LEAD_ID") or "")
    return CrmDeal(
        deal_id=str(deal["ID"]),
        lead_ref=f"lead:{lead_id}" if lead_id.isdigit() and lead_id != "0" else None,
        status=status,
        revenue=money(deal.get("OPPORTUNITY")),
        currency=str(deal.get("CURRENCY_ID") or "RUB")[:3].upper(),
        updated_at=_parse_time(deal.get("DATE_MODIFY")),
    )


def _parse_time(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else None
