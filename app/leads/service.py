"""Form leads: a form submitted during a visit, stored with the visit's attribution and pushed
through the outbox; and the site's leads, calls and forms together."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from app.exceptions import Forbidden, InvalidField, NotFound, TooManyRequests
from app.kit.phones import to_e164
from app.kit.text import fit_to_columns
from app.leads import repository
from app.leads.fields import kept_fields
from app.leads.schemas import FormRequest, LeadAttributionOut, LeadOut
from app.models import Call, FormLead, TrackingSession
from app.tracking.site_config import SiteConfig
from crm_push.outbox import enqueue_for_lead

# A session that sends more forms than this is a script, not a visitor.
MAX_FORMS_PER_SESSION = 20
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FORMS = cast(Table, FormLead.__table__)
_FROM_SESSION = (
    "source",
    "medium",
    "campaign",
    "term",
    "content",
    "landing_url",
    "referrer",
    "gclid",
    "yclid",
)

# Called after a form lead is stored, in the same transaction (notifications register here).
LeadHook = Callable[[AsyncSession, FormLead, datetime], Awaitable[None]]
_hooks: list[LeadHook] = []


def on_form_lead(hook: LeadHook) -> LeadHook:
    """Register `hook(db, lead, now)` to run when a form lead is stored, before the commit:
    whatever it writes (an outbox row) is stored with the lead or not at all."""
    _hooks.append(hook)
    return hook


def _phone(raw: str | None, country: str) -> str | None:
    """E.164 when it parses for the site's country, so that it meets the calls' callers;
    the text as typed otherwise: a mistyped number must not cost the site its lead."""
    if not raw:
        return None
    try:
        return to_e164(raw, country, field="fields.phone")
    except InvalidField:
        return raw[:32]


def _text(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return value.strip() or None if isinstance(value, str) else None


async def submit_form(
    db: AsyncSession,
    *,
    site: SiteConfig,
    session_id: uuid.UUID,
    data: FormRequest,
    now: datetime,
) -> FormLead:
    if not site.forms_enabled:
        raise Forbidden("this site does not take form leads: enable forms in its settings")
    if site.forms_consent_required and not data.consent:
        raise Forbidden("this site keeps a form only with the visitor's consent (consent: true)")
    session = await db.get(TrackingSession, session_id)
    if session is None or session.site_id != site.id:
        raise NotFound(f"session {session_id} not found")
    if await repository.forms_in_session(db, session_id=session.id) >= MAX_FORMS_PER_SESSION:
        raise TooManyRequests("too many forms from this visit", retry_after_s=3600)
    raw = dict(data.fields)
    # The three named fields are the lead's own (a long phone number may pass the card check).
    phone = _phone(_text(raw.pop("phone", None)), site.country)
    email = _text(raw.pop("email", None))
    name = _text(raw.pop("name", None))
    fields = kept_fields(raw)
    if email is not None and not _EMAIL.match(email):
        fields["email"] = email  # kept as typed, but not as the lead's address
        email = None
    if phone is None and email is None:
        raise InvalidField("fields", "a form lead needs a phone or an e-mail")
    values = fit_to_columns(
        _FORMS,
        {
            "id": uuid.uuid4(),
            "site_id": site.id,
            "session_id": session.id,
            "visitor_id": session.visitor_id,
            "url": data.url,
            "form_id": data.form_id,
            "name": name,
            "phone": phone,
            "email": email,
            **{column: getattr(session, column) for column in _FROM_SESSION},
            "created_at": now,
        },
    )
    lead = FormLead(**values, fields=fields)
    db.add(lead)
    await db.flush()
    # The CRM deliveries go in this same transaction: a stored lead is a lead that is pushed.
    await enqueue_for_lead(db, lead=lead, now=now)
    for hook in _hooks:
        await hook(db, lead, now)
    return lead


async def list_leads(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    since: datetime | None,
    until: datetime | None,
    limit: int = 500,
) -> list[LeadOut]:
    """Calls that are leads and form leads of [since, until), newest first."""
    calls = await repository.call_leads(db, site_id=site_id, since=since, until=until, limit=limit)
    forms = await repository.form_leads(db, site_id=site_id, since=since, until=until, limit=limit)
    items = [call_lead(c) for c in calls] + [form_lead(f) for f in forms]
    items.sort(key=lambda item: (item.created_at, str(item.id)), reverse=True)
    return items[:limit]


def call_lead(call: Call) -> LeadOut:
    return LeadOut(
        id=call.id,
        kind="call",
        call_id=call.id,
        phone=call.caller,
        email=None,
        name=None,
        fields={},
        url=None,
        form_id=None,
        created_at=call.started_at,
        attribution=LeadAttributionOut(
            method=call.attribution_method,  # type: ignore[arg-type]
            confidence=call.confidence,
            reason=call.confidence_reason,
            conflict=call.attribution_conflict,
            session_id=call.session_id,
            visitor_id=call.visitor_id,
            **{column: getattr(call, column) for column in _FROM_SESSION},
        ),
    )


def form_lead(lead: FormLead) -> LeadOut:
    known = lead.session_id is not None
    return LeadOut(
        id=lead.id,
        kind="form",
        call_id=None,
        phone=lead.phone,
        email=lead.email,
        name=lead.name,
        fields={str(k): str(v) for k, v in lead.fields.items()},
        url=lead.url,
        form_id=lead.form_id,
        created_at=lead.created_at,
        attribution=LeadAttributionOut(
            method="session" if known else "none",
            confidence=1.0 if known else 0.0,
            reason="sent from the visit itself" if known else None,
            conflict=False,
            session_id=lead.session_id,
            visitor_id=lead.visitor_id,
            **{column: getattr(lead, column) for column in _FROM_SESSION},
        ),
    )
