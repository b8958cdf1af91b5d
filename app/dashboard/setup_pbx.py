"""Connecting a PBX from the dashboard: each provider with only the fields it needs, the
webhook URL to paste into the PBX, a signed test call through the real hook, and the last events
with their outcome (accepted, refused for the signature, malformed), so a wrong secret shows here.

Writes go through pbx_webhooks.service, the functions the admin API calls.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from httpx import ASGITransport, AsyncClient
from pydantic import TypeAdapter, ValidationError

from app.dashboard.csrf import CsrfChecked
from app.dashboard.form_errors import field_message
from app.dashboard.service import require_admin
from app.dashboard.web import HtmlRoute, OnSite, SitePage, redirect
from app.i18n import N_, gettext
from app.models import PbxEvent, PbxIntegration
from pbx_webhooks import refusals, repository
from pbx_webhooks import service as pbx_service
from pbx_webhooks.inbox import REJECTED_PREFIX
from pbx_webhooks.providers.generic import sign
from pbx_webhooks.schemas import PbxIntegrationCreate

router = APIRouter(prefix="/sites/{site_id}/pbx", route_class=HtmlRoute, include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    hint: str
    secret: bool = True
    default: str = ""


@dataclass(frozen=True, slots=True)
class Provider:
    key: str
    label: str
    where: str  # where in the provider's portal the URL and the credentials are
    fields: tuple[Field, ...]


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        "generic",
        N_("Generic webhook (Asterisk, FreeSWITCH, any PBX)"),
        N_("We make the signing secret; paste the URL and the secret into the PBX."),
        (),
    ),
    Provider(
        "twilio",
        "Twilio",
        N_("Phone number > Voice configuration > status callback URL."),
        (Field("auth_token", N_("Auth token"), N_("Console > Account info > Auth Token")),),
    ),
    Provider(
        "zadarma",
        "Zadarma",
        N_("Settings > Integrations and API > notifications URL."),
        (
            Field("api_secret", N_("API secret"), N_("Settings > Integrations and API > Secret")),
            Field(
                "timezone",
                N_("Account time zone"),
                N_("Zadarma writes call times in the account's zone"),
                secret=False,
                default="Europe/Moscow",
            ),
        ),
    ),
    Provider(
        "mango",
        "Mango Office",
        N_("Integrations > API connection > external system address."),
        (
            Field("api_key", N_("API key (unique code)"), N_("Integrations > API connection")),
            Field("api_salt", N_("API salt (signature key)"), N_("Integrations > API connection")),
        ),
    ),
    Provider(
        "telnyx",
        "Telnyx",
        N_("Call Control application > webhook URL."),
        (
            Field(
                "public_key",
                N_("Public key"),
                N_("Account settings > Keys & credentials > Public key"),
            ),
        ),
    ),
)
BY_KEY = {p.key: p for p in PROVIDERS}
TEST_CALL_SECONDS = 42
# The webhook-id of the test call's event: the onboarding checklist tells it from the PBX's own.
TEST_MESSAGE_PREFIX = "msg_test_"
_CREATE: TypeAdapter[Any] = TypeAdapter(PbxIntegrationCreate)


def _field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        # The location is (provider, field) under the discriminated union.
        name = str(error["loc"][-1]) if error["loc"] else "provider"
        message = field_message(error)
        if error["type"] in ("missing", "too_short", "string_too_short"):
            message = gettext("this field is required")
        errors.setdefault(name, message)
    return errors


def _outcome(event: PbxEvent) -> tuple[str, str]:
    if event.dedup_key.startswith(REJECTED_PREFIX):
        return N_("malformed"), event.error or ""
    if event.error:
        return N_("failed"), event.error
    if event.processed_at is None:
        return N_("waiting"), ""
    return N_("accepted"), ""


async def _list_page(
    at: SitePage,
    *,
    errors: dict[str, str] | None = None,
    chosen: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    integrations = await pbx_service.list_integrations(at.db, site_id=at.site.id)
    public_url = at.page.settings.public_url
    response = at.render(
        "pbx_list.html",
        nav="integrations",
        providers=PROVIDERS,
        integrations=[(i, pbx_service.webhook_url(i, public_url=public_url)) for i in integrations],
        errors=errors or {},
        chosen=chosen,
        values=values or {},
    )
    response.status_code = status
    return response


@router.get("")
async def pbx_list(at: OnSite) -> Response:
    return await _list_page(at)


@router.post("", dependencies=[CsrfChecked])
async def pbx_connect(request: Request, at: OnSite) -> Response:
    require_admin(at.account)
    form = await request.form()
    provider = str(form.get("provider", ""))
    if provider not in BY_KEY:
        return await _list_page(at, errors={"provider": gettext("choose a provider")}, status=422)
    data: dict[str, str] = {"provider": provider}
    name = str(form.get("name", "")).strip()
    if name:
        data["name"] = name
    for field in BY_KEY[provider].fields:
        data[field.name] = str(form.get(field.name, "")).strip()
    try:
        parsed = _CREATE.validate_python(data)
    except ValidationError as exc:
        # Secrets are never written back into the page.
        shown = {f.name: data[f.name] for f in BY_KEY[provider].fields if not f.secret}
        shown["name"] = name
        return await _list_page(
            at, errors=_field_errors(exc), chosen=provider, values=shown, status=422
        )
    integration = await pbx_service.create_integration(at.db, at.site, parsed, now=at.now)
    secret = integration.credentials.get("secret") if provider == "generic" else None
    return await _detail_page(at, integration, secret=secret)


async def _integration(at: SitePage, integration_id: uuid.UUID) -> PbxIntegration:
    return await pbx_service.get_integration(
        at.db, site_id=at.site.id, integration_id=integration_id
    )


async def _detail_page(
    at: SitePage,
    integration: PbxIntegration,
    *,
    secret: str | None = None,
    test_result: tuple[bool, str] | None = None,
    errors: dict[str, str] | None = None,
    called: str = "",
    status: int = 200,
) -> Response:
    events = await repository.recent_events(at.db, integration_id=integration.id)
    refused = await refusals.recent(at.db, integration_id=integration.id)
    response = at.render(
        "pbx_detail.html",
        nav="integrations",
        integration=integration,
        provider=BY_KEY.get(integration.provider),
        webhook_url=pbx_service.webhook_url(integration, public_url=at.page.settings.public_url),
        events=[(event, *_outcome(event)) for event in events],
        refused=refused,
        secret=secret,
        test_result=test_result,
        errors=errors or {},
        called=called,
    )
    response.status_code = status
    return response


@router.get("/{integration_id}")
async def pbx_detail(at: OnSite, integration_id: uuid.UUID) -> Response:
    return await _detail_page(at, await _integration(at, integration_id))


@router.post("/{integration_id}/secret", dependencies=[CsrfChecked])
async def pbx_rotate(at: OnSite, integration_id: uuid.UUID) -> Response:
    require_admin(at.account)
    integration, secret = await pbx_service.rotate_secret(
        at.db, site_id=at.site.id, integration_id=integration_id
    )
    return await _detail_page(at, integration, secret=secret)


@router.post("/{integration_id}/retire", dependencies=[CsrfChecked])
async def pbx_retire(at: OnSite, integration_id: uuid.UUID) -> Response:
    require_admin(at.account)
    await pbx_service.retire_integration(
        at.db, site_id=at.site.id, integration_id=integration_id, now=at.now
    )
    return redirect(f"{at.base}/pbx")


def _test_event_body(*, call_id: str, called: str, caller: str, timestamp: str) -> bytes:
    """One finished, answered call in the contract's generic format."""
    event = {
        "event": "call.ended",
        "call_id": call_id,
        "caller": caller or None,
        "called": called,
        "timestamp": timestamp,
        "status": "answered",
        "duration": TEST_CALL_SECONDS,
        "talk_duration": TEST_CALL_SECONDS - 12,
    }
    return json.dumps(event).encode()


@router.post("/{integration_id}/test-call", dependencies=[CsrfChecked])
async def pbx_test_call(
    at: OnSite,
    integration_id: uuid.UUID,
    called: Annotated[str, Form(max_length=50)] = "",
    caller: Annotated[str, Form(max_length=50)] = "",
) -> Response:
    """Post a correctly signed event to this integration's own webhook, through the real hook
    route (verification, inbox, the call), exactly as the PBX would."""
    require_admin(at.account)
    integration = await _integration(at, integration_id)
    if integration.provider != "generic":
        return await _detail_page(
            at,
            integration,
            test_result=(False, gettext("only a generic webhook takes a test call")),
        )
    if not called.strip():
        errors = {
            "called": gettext("type the number the caller dialled (one of your tracking numbers)")
        }
        return await _detail_page(at, integration, errors=errors, status=422)
    timestamp = str(int(at.now.timestamp()))
    msg_id = f"{TEST_MESSAGE_PREFIX}{uuid.uuid4().hex}"
    # Stamped to have begun now, as the demo's test call is: a call is matched to the visit
    # that held the number when it began, and the visitor's page may have opened seconds ago.
    body = _test_event_body(
        call_id=f"test-{uuid.uuid4().hex[:12]}",
        called=called.strip(),
        caller=caller.strip(),
        timestamp=(at.now + timedelta(seconds=TEST_CALL_SECONDS)).isoformat(),
    )
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": sign(integration.credentials["secret"], msg_id, timestamp, body),
    }
    # The hook writes on connections of its own: nothing of this request may hold a lock.
    await at.db.commit()
    transport = ASGITransport(app=at.request.app)
    async with AsyncClient(transport=transport, base_url=at.page.settings.public_url) as http:
        answer = await http.post(f"/hooks/pbx/{integration.id}", content=body, headers=headers)
    if answer.status_code == 200:
        result = (True, gettext("accepted: the test call is on the Calls page"))
    else:
        try:
            detail = str(answer.json().get("detail", answer.text))
        except ValueError:
            detail = answer.text
        result = (False, f"{answer.status_code}: {detail[:300]}")
    return await _detail_page(at, integration, test_result=result, called=called)
