"""Forms sent on a site become leads: POST /t/{key}/sessions/{id}/forms and GET /leads, on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.leads.service import MAX_FORMS_PER_SESSION
from app.models import FormLead
from tests.conftest import PUBLIC_URL
from tests.factories import create_site
from tests.leads.forms import ORIGIN, enable_forms, send_form, visit


@pytest.fixture
async def site(client: AsyncClient) -> dict[str, Any]:
    site = await create_site(client)
    await enable_forms(client, site)
    return site


async def test_a_form_is_a_lead_with_the_visits_attribution(
    client: AsyncClient, anonymous: AsyncClient, site: dict[str, Any]
) -> None:
    session = await visit(anonymous, site)
    assert session["forms"] == f"{PUBLIC_URL}/t/forms.js"

    sent = await send_form(
        anonymous,
        site,
        session["session_id"],
        form_id="callback",
        fields={
            "name": "Анна",
            "phone": "8 (916) 123-45-67",
            "email": "anna@mail.example",
            "message": "Перезвоните",
        },
    )

    assert sent.status_code == 201, sent.text
    assert sent.headers["access-control-allow-origin"] == ORIGIN
    lead_id = sent.json()["lead_id"]
    leads = (await client.get(f"/api/v1/sites/{site['id']}/leads")).json()["items"]
    assert [lead["id"] for lead in leads] == [lead_id]
    lead = leads[0]
    assert lead["kind"] == "form"
    assert lead["call_id"] is None
    assert lead["phone"] == "+79161234567"  # read in the site's country, as callers are
    assert lead["email"] == "anna@mail.example"
    assert lead["name"] == "Анна"
    assert lead["fields"] == {"message": "Перезвоните"}
    assert lead["form_id"] == "callback"
    assert lead["created_at"].endswith("Z")
    attribution = lead["attribution"]
    assert attribution["method"] == "session"
    assert attribution["session_id"] == session["session_id"]
    assert (attribution["source"], attribution["medium"], attribution["campaign"]) == (
        "yandex",
        "cpc",
        "spring",
    )
    assert attribution["landing_url"].startswith("https://shop.example/?utm_source=yandex")


async def test_secrets_and_card_numbers_are_never_stored(
    anonymous: AsyncClient,
    site: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    session = await visit(anonymous, site)
    fields = {
        "phone": "+7 916 123 45 67",
        "password": "hunter2",
        "user[pass]": "hunter2",
        "Пароль": "hunter2",
        "card_number": "4111 1111 1111 1111",
        "cvv": "123",
        "csrf_token": "abc",
        "notes": "4111111111111111",  # a card number under an innocent name
        "comment": "hello",
    }

    sent = await send_form(anonymous, site, session["session_id"], fields=fields)

    assert sent.status_code == 201, sent.text
    async with sessionmaker() as db:
        lead = (await db.execute(select(FormLead))).scalar_one()
    assert lead.fields == {"comment": "hello"}
    stored = json.dumps(lead.fields) + str(lead.name) + str(lead.email)
    assert "hunter2" not in stored
    assert "4111" not in stored
    assert "123" not in stored


async def test_unknown_session_is_404_and_stores_nothing(
    anonymous: AsyncClient, site: dict[str, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sent = await send_form(anonymous, site, str(uuid.uuid4()), fields={"phone": "+79161234567"})

    assert sent.status_code == 404
    assert "session" in sent.json()["detail"]
    async with sessionmaker() as db:
        assert (await db.execute(select(FormLead))).first() is None


async def test_another_sites_session_is_404(
    client: AsyncClient, anonymous: AsyncClient, site: dict[str, Any]
) -> None:
    other = await create_site(client, name="Other", domains=["other.example"])
    await enable_forms(client, other)
    session = await visit(anonymous, site)

    sent = await send_form(
        anonymous, other, session["session_id"], origin=None, fields={"phone": "+79161234567"}
    )

    assert sent.status_code == 404


async def test_a_foreign_origin_is_refused(anonymous: AsyncClient, site: dict[str, Any]) -> None:
    session = await visit(anonymous, site)

    sent = await send_form(
        anonymous,
        site,
        session["session_id"],
        origin="https://evil.example",
        fields={"phone": "+79161234567"},
    )

    assert sent.status_code == 403
    assert "access-control-allow-origin" not in sent.headers


async def test_a_site_without_forms_takes_none(client: AsyncClient, anonymous: AsyncClient) -> None:
    site = await create_site(client)
    session = await visit(anonymous, site)
    assert "forms" not in session  # the snippet loads nothing for forms

    sent = await send_form(anonymous, site, session["session_id"], fields={"phone": "+79161234567"})

    assert sent.status_code == 403
    assert "forms" in sent.json()["detail"]


async def test_consent_when_the_site_requires_it(
    client: AsyncClient, anonymous: AsyncClient, site: dict[str, Any]
) -> None:
    await enable_forms(client, site, consent_required=True)
    session = await visit(anonymous, site)
    assert session["forms"] == f"{PUBLIC_URL}/t/forms.js?consent=required"

    refused = await send_form(
        anonymous, site, session["session_id"], fields={"phone": "+79161234567"}
    )
    taken = await send_form(
        anonymous, site, session["session_id"], consent=True, fields={"phone": "+79161234567"}
    )

    assert refused.status_code == 403
    assert "consent" in refused.json()["detail"]
    assert taken.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fields": {"name": "No contact"}}, "fields"),
        ({"url": "javascript:alert(1)", "fields": {"phone": "+79161234567"}}, "url"),
        ({"fields": {f"f{i}": "x" for i in range(51)}}, "fields"),
    ],
)
async def test_bad_forms_are_422_naming_the_field(
    anonymous: AsyncClient, site: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    session = await visit(anonymous, site)

    sent = await send_form(anonymous, site, session["session_id"], **body)

    assert sent.status_code == 422, sent.text
    assert field in json.dumps(sent.json())


async def test_a_mistyped_phone_keeps_the_lead(
    client: AsyncClient, anonymous: AsyncClient, site: dict[str, Any]
) -> None:
    session = await visit(anonymous, site)

    sent = await send_form(
        anonymous, site, session["session_id"], fields={"phone": "12", "email": "a@b.example"}
    )

    assert sent.status_code == 201
    lead = (await client.get(f"/api/v1/sites/{site['id']}/leads")).json()["items"][0]
    assert lead["phone"] == "12"


async def test_leads_take_the_period(
    client: AsyncClient, anonymous: AsyncClient, site: dict[str, Any]
) -> None:
    session = await visit(anonymous, site)
    await send_form(anonymous, site, session["session_id"], fields={"phone": "+79161234567"})

    before = await client.get(f"/api/v1/sites/{site['id']}/leads?to=2000-01-01")
    unknown = await client.get(f"/api/v1/sites/{uuid.uuid4()}/leads")

    assert before.json() == {"items": []}
    assert unknown.status_code == 404


async def test_a_visit_sending_form_after_form_is_stopped(
    anonymous: AsyncClient, site: dict[str, Any]
) -> None:
    session = await visit(anonymous, site)
    for _ in range(MAX_FORMS_PER_SESSION):
        sent = await send_form(
            anonymous, site, session["session_id"], fields={"phone": "+79161234567"}
        )
        assert sent.status_code == 201

    refused = await send_form(
        anonymous, site, session["session_id"], fields={"phone": "+79161234567"}
    )

    assert refused.status_code == 429
    assert "retry-after" in refused.headers
